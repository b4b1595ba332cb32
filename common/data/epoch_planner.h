// Epoch planning: which records each worker trains on, in which order, in space that grows with
// the number of splits, never with the number of records.
//
// The coordinator sends every worker the same EpochPlan: the epoch's seeded order of the
// dataset's splits plus a few numbers (1,899 bytes for 1,000 splits of 100M records). Each worker
// derives its own samples from it with an EpochStream:
//
//  1. The epoch's record sequence is the records of the splits in `split_order`, each split in
//     file order: N records.
//  2. It is shuffled in windows of `shuffle_window` consecutive records: window w is permuted by
//     a permutation seeded with (seed, epoch, w). A window is a block shuffle as tf.data's
//     shuffle buffer or WebDataset's shard shuffle give, but a deterministic function of its
//     position, so any worker can compute any part of it without the rest. When the window holds
//     every record (the default for datasets that fit the loader's cache) this is a uniform
//     random permutation of the epoch.
//  3. The sequence is made divisible by the number of workers: `kPad` repeats records from its
//     start, `kDrop` drops its tail, as PyTorch's DistributedSampler does.
//  4. Optimizer step s uses the global slice [s*G, (s+1)*G), G = workers * samples_per_step;
//     worker r takes the r-th equal part of that slice (a last, smaller step is split equally).
//
// Steps 1-3 do not depend on the number of workers, hence: for the same seed, window and
// dataset, 2 workers x batch B see exactly the batches 1 worker x batch 2B sees (and so reach the
// same weights). What it costs: a window's records are spread over all workers, so each worker
// decodes every split of the windows it trains on (as with any record-level global shuffle);
// the loader's cache keeps decoded splits across epochs.
#pragma once

#include <cstdint>
#include <vector>

#include "common/config/train_config.h"
#include "common/data/record_block.h"

namespace aimass::data {

struct EpochPlanOptions {
  uint64_t seed = 0;
  uint32_t epoch = 0;
  uint32_t workers = 1;
  uint64_t samples_per_step = 1;  // per worker: batch_size * grad_accumulation
  bool shuffle = true;
  uint64_t shuffle_window = 0;    // records shuffled together; 0: all of them
  RemainderPolicy remainder = RemainderPolicy::kPad;
};

// One epoch, as every worker is told it. Identical for every worker.
struct EpochPlan {
  uint32_t epoch = 0;
  uint64_t seed = 0;
  bool shuffle = true;
  uint32_t workers = 1;
  uint64_t samples_per_step = 1;    // per worker
  uint64_t samples_per_worker = 0;  // equal on every worker
  uint64_t steps = 0;               // optimizer steps
  uint64_t shuffle_window = 0;      // records per window, >= 1 once planned
  std::vector<uint32_t> split_order;
};

// `split_records[i]`: the records the job uses of split i. Deterministic: the same inputs give
// the same plan on every machine.
EpochPlan PlanEpoch(const std::vector<uint64_t>& split_records, const EpochPlanOptions& options);

// Optimizer steps per epoch for these options, without building the plan.
uint64_t StepsPerEpoch(uint64_t records, const EpochPlanOptions& options);

// Record `record` (0-based, in file order) of split `split`.
struct SampleRef {
  uint32_t split = 0;
  uint64_t record = 0;
  bool operator==(const SampleRef& other) const {
    return split == other.split && record == other.record;
  }
};

// A worker's stream of samples: what its data loader walks. Not thread-safe: one reader.
class SampleSequence {
 public:
  // Samples [first_sample, next segment's first_sample) come only from `splits`: what the
  // loader must have decoded to assemble them, so it can read ahead.
  struct Segment {
    uint64_t first_sample = 0;
    std::vector<uint32_t> splits;
  };

  virtual ~SampleSequence() = default;
  virtual uint64_t size() const = 0;
  virtual SampleRef At(uint64_t k) = 0;  // k < size(); cheapest when k only grows
  virtual std::vector<Segment> Segments() const = 0;
};

// Worker `rank`'s samples of an epoch, in training order (see the top of this file).
class EpochStream final : public SampleSequence {
 public:
  EpochStream(EpochPlan plan, std::vector<uint64_t> split_records, uint32_t rank);

  uint64_t size() const override { return plan_.samples_per_worker; }
  SampleRef At(uint64_t k) override;
  std::vector<Segment> Segments() const override;

 private:
  uint64_t GlobalPosition(uint64_t k) const;  // in the padded, shuffled sequence
  SampleRef Locate(uint64_t position) const;  // in the unshuffled sequence (split order)
  const std::vector<uint64_t>& WindowPermutation(uint64_t window);

  EpochPlan plan_;
  std::vector<uint64_t> split_records_;
  uint32_t rank_;
  uint64_t records_ = 0;
  std::vector<uint64_t> starts_;    // starts_[j]: first position of split_order[j]
  uint64_t cached_window_ = ~uint64_t{0};
  std::vector<uint64_t> permutation_;
};

// Explicit ranges, in order: a worker's share of the test split.
class RangeSequence final : public SampleSequence {
 public:
  explicit RangeSequence(std::vector<SampleRange> ranges);
  uint64_t size() const override { return total_; }
  SampleRef At(uint64_t k) override;
  std::vector<Segment> Segments() const override;

 private:
  std::vector<SampleRange> ranges_;
  std::vector<uint64_t> starts_;
  uint64_t total_ = 0;
  size_t cursor_ = 0;
};

// The test split for evaluation: contiguous parts, every record exactly once, part sizes differ
// by at most one record.
std::vector<std::vector<SampleRange>> PlanEvaluation(const std::vector<uint64_t>& split_records,
                                                     uint32_t workers);

}  // namespace aimass::data
