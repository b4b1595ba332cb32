// Epoch planning: which records each worker trains on, in which order.
//
// Each epoch a seeded permutation of every record of the dataset (the identity when shuffle is
// off) is made divisible by the number of workers: `kPad` repeats records from its start, `kDrop`
// drops its tail, as PyTorch's DistributedSampler does. Optimizer step s uses the global slice
// [s*G, (s+1)*G) of the permutation, G = workers * samples_per_step; worker r takes the r-th
// equal part of that slice. So the union of the workers' step-s samples is the same whatever the
// number of workers, and 2 workers x batch B see exactly the batches 1 worker x batch 2B sees.
// The last step of an epoch may be smaller; it is still split equally.
#pragma once

#include <cstdint>
#include <vector>

#include "common/config/train_config.h"
#include "common/data/dataset_index.h"
#include "common/data/record_block.h"

namespace aimass::data {

struct EpochPlanOptions {
  uint64_t seed = 0;
  uint32_t epoch = 0;
  uint32_t workers = 1;
  uint64_t samples_per_step = 1;  // per worker: batch_size * grad_accumulation
  bool shuffle = true;
  RemainderPolicy remainder = RemainderPolicy::kPad;
  uint64_t limit = 0;             // use only the first `limit` records of the dataset (0: all)
};

struct WorkerStream {
  std::vector<SampleRange> ranges;  // adjacent records of one shard are merged into one range
  uint64_t samples = 0;
};

struct EpochPartition {
  std::vector<WorkerStream> workers;
  uint64_t samples_per_worker = 0;
  uint64_t steps = 0;
};

// Deterministic: the same index and options give the same plan on every machine.
EpochPartition PlanEpoch(const DatasetIndex& index, const EpochPlanOptions& options);

// Optimizer steps per epoch for these options, without building the plan.
uint64_t StepsPerEpoch(uint64_t records, const EpochPlanOptions& options);

// The test split for evaluation: contiguous parts, every record exactly once, part sizes differ
// by at most one record.
std::vector<std::vector<SampleRange>> PlanEvaluation(const DatasetIndex& index, uint32_t workers);

}  // namespace aimass::data
