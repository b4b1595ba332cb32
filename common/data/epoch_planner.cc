#include "common/data/epoch_planner.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace aimass::data {
namespace {

// splitmix64's finalizer: spreads (seed, epoch) over all 64 bits before seeding the generator,
// so that nearby seeds or epochs do not give related permutations.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, bound), by rejecting the draws that would bias the modulo. Spelled out because
// std::uniform_int_distribution (like std::shuffle) is free to differ between standard libraries,
// and every worker must derive the same permutation.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t rejected_below = (0 - bound) % bound;  // 2^64 mod bound
  while (true) {
    const uint64_t draw = rng();
    if (draw >= rejected_below) return draw % bound;
  }
}

struct EpochSizes {
  uint64_t records = 0;  // after `limit`
  uint64_t padded = 0;   // after the remainder policy: a multiple of the worker count
  uint64_t per_worker = 0;
  uint64_t steps = 0;
  uint64_t workers = 1;
  uint64_t samples_per_step = 1;
};

EpochSizes ComputeSizes(uint64_t records, const EpochPlanOptions& options) {
  EpochSizes sizes;
  sizes.workers = std::max<uint64_t>(1, options.workers);
  sizes.samples_per_step = std::max<uint64_t>(1, options.samples_per_step);
  sizes.records = options.limit > 0 ? std::min(records, options.limit) : records;
  const uint64_t whole_rounds = sizes.records / sizes.workers;
  const bool has_remainder = sizes.records % sizes.workers != 0;
  const bool pad = options.remainder == RemainderPolicy::kPad;
  sizes.per_worker = whole_rounds + (pad && has_remainder ? 1 : 0);
  sizes.padded = sizes.per_worker * sizes.workers;
  sizes.steps = (sizes.per_worker + sizes.samples_per_step - 1) / sizes.samples_per_step;
  return sizes;
}

// Maps global record numbers (the dataset's records in shard order) to (shard, offset).
class RecordLocator {
 public:
  explicit RecordLocator(const DatasetIndex& index) {
    uint64_t start = 0;
    for (const ShardInfo& shard : index.shards) {
      starts_.push_back(start);
      start += shard.records;
    }
  }

  // The shard holding global record `g`. Empty shards share their start with the next one;
  // upper_bound skips them.
  uint32_t ShardOf(uint64_t g) const {
    return static_cast<uint32_t>(std::upper_bound(starts_.begin(), starts_.end(), g) -
                                 starts_.begin() - 1);
  }
  uint64_t StartOf(uint32_t shard) const { return starts_[shard]; }

 private:
  std::vector<uint64_t> starts_;
};

// Appends `count` records of `shard` from `begin`, extending the last range when it continues it.
void AppendRecords(uint32_t shard, uint64_t begin, uint64_t count,
                   std::vector<SampleRange>* ranges) {
  while (count > 0) {
    if (!ranges->empty()) {
      SampleRange& last = ranges->back();
      if (last.shard == shard && last.begin + last.count == begin && last.count < UINT32_MAX) {
        const uint64_t added = std::min<uint64_t>(count, UINT32_MAX - last.count);
        last.count += static_cast<uint32_t>(added);
        begin += added;
        count -= added;
        continue;
      }
    }
    const uint64_t added = std::min<uint64_t>(count, UINT32_MAX);
    ranges->push_back(SampleRange{shard, begin, static_cast<uint32_t>(added)});
    begin += added;
    count -= added;
  }
}

// The epoch's order of the first `records` global records, made `padded` long.
std::vector<uint64_t> Permutation(const EpochSizes& sizes, const EpochPlanOptions& options) {
  std::vector<uint64_t> order(sizes.records);
  std::iota(order.begin(), order.end(), uint64_t{0});
  if (options.shuffle && sizes.records > 1) {
    std::mt19937_64 rng(Mix(Mix(options.seed) ^ options.epoch));
    for (uint64_t i = sizes.records - 1; i > 0; --i) {  // Fisher-Yates
      std::swap(order[i], order[UniformBelow(rng, i + 1)]);
    }
  }
  if (sizes.padded <= sizes.records) {
    order.resize(sizes.padded);  // kDrop: the tail goes
  } else {
    order.reserve(sizes.padded);  // kPad: repeat from the start, cyclically when records < workers
    for (uint64_t k = 0; order.size() < sizes.padded; ++k) order.push_back(order[k]);
  }
  return order;
}

}  // namespace

EpochPartition PlanEpoch(const DatasetIndex& index, const EpochPlanOptions& options) {
  const EpochSizes sizes = ComputeSizes(index.total_records(), options);
  EpochPartition partition;
  partition.workers.resize(sizes.workers);
  partition.samples_per_worker = sizes.per_worker;
  partition.steps = sizes.steps;
  if (sizes.padded == 0) return partition;

  const std::vector<uint64_t> order = Permutation(sizes, options);
  const RecordLocator locator(index);
  const uint64_t step_samples = sizes.workers * sizes.samples_per_step;  // G
  for (uint64_t step = 0; step < sizes.steps; ++step) {
    const uint64_t step_begin = step * step_samples;
    // Each worker's share of this step; smaller in a last step that is not full.
    const uint64_t share =
        std::min(sizes.samples_per_step, (sizes.padded - step_begin) / sizes.workers);
    for (uint64_t worker = 0; worker < sizes.workers; ++worker) {
      WorkerStream& stream = partition.workers[worker];
      const uint64_t begin = step_begin + worker * share;
      for (uint64_t k = begin; k < begin + share; ++k) {
        const uint32_t shard = locator.ShardOf(order[k]);
        AppendRecords(shard, order[k] - locator.StartOf(shard), 1, &stream.ranges);
      }
      stream.samples += share;
    }
  }
  return partition;
}

uint64_t StepsPerEpoch(uint64_t records, const EpochPlanOptions& options) {
  return ComputeSizes(records, options).steps;
}

std::vector<std::vector<SampleRange>> PlanEvaluation(const DatasetIndex& index, uint32_t workers) {
  const uint64_t parts = std::max<uint32_t>(1, workers);
  std::vector<std::vector<SampleRange>> plan(parts);
  const uint64_t total = index.total_records();
  const RecordLocator locator(index);
  for (uint64_t part = 0; part < parts; ++part) {
    // The first total % parts parts get one record more.
    uint64_t begin = part * (total / parts) + std::min(part, total % parts);
    uint64_t remaining = total / parts + (part < total % parts ? 1 : 0);
    while (remaining > 0) {
      const uint32_t shard = locator.ShardOf(begin);
      const uint64_t offset = begin - locator.StartOf(shard);
      const uint64_t count = std::min(remaining, index.shards[shard].records - offset);
      AppendRecords(shard, offset, count, &plan[part]);
      begin += count;
      remaining -= count;
    }
  }
  return plan;
}

}  // namespace aimass::data
