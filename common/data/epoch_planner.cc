#include "common/data/epoch_planner.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace aimass::data {
namespace {

// splitmix64's finalizer: spreads (seed, epoch, window) over all 64 bits before seeding the
// generator, so that nearby values do not give related permutations.
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

template <class T>
void FisherYates(std::vector<T>& values, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (uint64_t i = values.size(); i > 1; --i) {
    std::swap(values[i - 1], values[UniformBelow(rng, i)]);
  }
}

uint64_t EpochSeed(uint64_t seed, uint32_t epoch) { return Mix(Mix(seed) ^ epoch); }

struct EpochSizes {
  uint64_t records = 0;
  uint64_t per_worker = 0;
  uint64_t steps = 0;
};

EpochSizes ComputeSizes(uint64_t records, const EpochPlanOptions& options) {
  const uint64_t workers = std::max<uint64_t>(1, options.workers);
  const uint64_t samples_per_step = std::max<uint64_t>(1, options.samples_per_step);
  EpochSizes sizes;
  sizes.records = records;
  const bool pad = options.remainder == RemainderPolicy::kPad;
  sizes.per_worker = records / workers + (pad && records % workers != 0 ? 1 : 0);
  sizes.steps = (sizes.per_worker + samples_per_step - 1) / samples_per_step;
  return sizes;
}

}  // namespace

EpochPlan PlanEpoch(const std::vector<uint64_t>& split_records, const EpochPlanOptions& options) {
  const uint64_t records = std::accumulate(split_records.begin(), split_records.end(), uint64_t{0});
  const EpochSizes sizes = ComputeSizes(records, options);
  EpochPlan plan;
  plan.epoch = options.epoch;
  plan.seed = options.seed;
  plan.shuffle = options.shuffle;
  plan.workers = std::max<uint32_t>(1, options.workers);
  plan.samples_per_step = std::max<uint64_t>(1, options.samples_per_step);
  plan.samples_per_worker = sizes.per_worker;
  plan.steps = sizes.steps;
  const uint64_t all = std::max<uint64_t>(1, records);
  plan.shuffle_window = options.shuffle_window == 0 ? all : std::min(options.shuffle_window, all);
  plan.split_order.resize(split_records.size());
  std::iota(plan.split_order.begin(), plan.split_order.end(), uint32_t{0});
  if (options.shuffle) FisherYates(plan.split_order, EpochSeed(options.seed, options.epoch));
  return plan;
}

uint64_t StepsPerEpoch(uint64_t records, const EpochPlanOptions& options) {
  return ComputeSizes(records, options).steps;
}

// ---------------------------------------------------------------- EpochStream

EpochStream::EpochStream(EpochPlan plan, std::vector<uint64_t> split_records, uint32_t rank)
    : plan_(std::move(plan)), split_records_(std::move(split_records)), rank_(rank) {
  starts_.reserve(plan_.split_order.size());
  for (uint32_t split : plan_.split_order) {
    starts_.push_back(records_);
    records_ += split < split_records_.size() ? split_records_[split] : 0;
  }
  if (plan_.shuffle_window == 0) plan_.shuffle_window = std::max<uint64_t>(1, records_);
}

uint64_t EpochStream::GlobalPosition(uint64_t k) const {
  const uint64_t per_step = plan_.samples_per_step;
  const uint64_t padded = plan_.samples_per_worker * plan_.workers;
  const uint64_t step = k / per_step;
  const uint64_t step_begin = step * plan_.workers * per_step;
  const uint64_t share = std::min(per_step, (padded - step_begin) / plan_.workers);
  return step_begin + rank_ * share + k % per_step;
}

SampleRef EpochStream::Locate(uint64_t position) const {
  // Empty splits share their start with the next one; upper_bound skips them.
  const size_t j = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), position) -
                                       starts_.begin() - 1);
  return SampleRef{plan_.split_order[j], position - starts_[j]};
}

const std::vector<uint64_t>& EpochStream::WindowPermutation(uint64_t window) {
  if (window == cached_window_) return permutation_;
  const uint64_t first = window * plan_.shuffle_window;
  permutation_.resize(std::min(plan_.shuffle_window, records_ - first));
  std::iota(permutation_.begin(), permutation_.end(), uint64_t{0});
  FisherYates(permutation_, Mix(EpochSeed(plan_.seed, plan_.epoch) ^ Mix(window + 1)));
  cached_window_ = window;
  return permutation_;
}

SampleRef EpochStream::At(uint64_t k) {
  const uint64_t position = GlobalPosition(k) % records_;  // kPad repeats from the start
  if (!plan_.shuffle) return Locate(position);
  const uint64_t window = position / plan_.shuffle_window;
  const uint64_t first = window * plan_.shuffle_window;
  return Locate(first + WindowPermutation(window)[position - first]);
}

std::vector<SampleSequence::Segment> EpochStream::Segments() const {
  std::vector<Segment> segments;
  const uint64_t samples = size();
  if (samples == 0 || records_ == 0) return segments;
  // Pieces of the unshuffled sequence whose samples need the same splits: a shuffle window, or
  // one split when nothing is shuffled.
  auto piece_end = [&](uint64_t position) {
    if (plan_.shuffle) {
      return std::min(records_, (position / plan_.shuffle_window + 1) * plan_.shuffle_window);
    }
    const auto next = std::upper_bound(starts_.begin(), starts_.end(), position);
    return next == starts_.end() ? records_ : *next;
  };
  auto piece_start = [&](uint64_t position) {
    if (plan_.shuffle) return position / plan_.shuffle_window * plan_.shuffle_window;
    return starts_[static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), position) -
                                       starts_.begin() - 1)];
  };
  uint64_t k = 0;
  while (k < samples) {
    const uint64_t global = GlobalPosition(k);
    const uint64_t position = global % records_;
    const uint64_t begin = piece_start(position);
    const uint64_t end = piece_end(position);
    Segment segment;
    segment.first_sample = k;
    for (size_t j = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), begin) -
                                        starts_.begin() - 1);
         j < starts_.size() && starts_[j] < end; ++j) {
      if (split_records_[plan_.split_order[j]] > 0) segment.splits.push_back(plan_.split_order[j]);
    }
    segments.push_back(std::move(segment));
    // The first sample past this piece: positions only grow with k (within one pass over the
    // records; kPad's repeat starts a new pass).
    const uint64_t global_end = global - position + end;
    uint64_t low = k + 1, high = samples;
    while (low < high) {
      const uint64_t mid = low + (high - low) / 2;
      if (GlobalPosition(mid) >= global_end) {
        high = mid;
      } else {
        low = mid + 1;
      }
    }
    k = low;
  }
  return segments;
}

// ---------------------------------------------------------------- RangeSequence

RangeSequence::RangeSequence(std::vector<SampleRange> ranges) : ranges_(std::move(ranges)) {
  for (const SampleRange& range : ranges_) {
    starts_.push_back(total_);
    total_ += range.count;
  }
}

SampleRef RangeSequence::At(uint64_t k) {
  if (cursor_ >= ranges_.size() || k < starts_[cursor_] || k >= starts_[cursor_] + ranges_[cursor_].count) {
    cursor_ = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), k) -
                                  starts_.begin() - 1);
    while (ranges_[cursor_].count == 0) ++cursor_;
  }
  const SampleRange& range = ranges_[cursor_];
  return SampleRef{range.split, range.begin + (k - starts_[cursor_])};
}

std::vector<SampleSequence::Segment> RangeSequence::Segments() const {
  std::vector<Segment> segments;
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (ranges_[i].count > 0) segments.push_back(Segment{starts_[i], {ranges_[i].split}});
  }
  return segments;
}

// ---------------------------------------------------------------- evaluation

std::vector<std::vector<SampleRange>> PlanEvaluation(const std::vector<uint64_t>& split_records,
                                                     uint32_t workers) {
  const uint64_t parts = std::max<uint32_t>(1, workers);
  std::vector<std::vector<SampleRange>> plan(parts);
  std::vector<uint64_t> starts;
  uint64_t total = 0;
  for (uint64_t records : split_records) {
    starts.push_back(total);
    total += records;
  }
  for (uint64_t part = 0; part < parts; ++part) {
    // The first total % parts parts get one record more.
    uint64_t begin = part * (total / parts) + std::min(part, total % parts);
    uint64_t remaining = total / parts + (part < total % parts ? 1 : 0);
    while (remaining > 0) {
      const size_t split = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), begin) -
                                               starts.begin() - 1);
      const uint64_t offset = begin - starts[split];
      const uint64_t count = std::min({remaining, split_records[split] - offset, uint64_t{UINT32_MAX}});
      std::vector<SampleRange>& ranges = plan[part];
      ranges.push_back(SampleRange{static_cast<uint32_t>(split), offset, static_cast<uint32_t>(count)});
      begin += count;
      remaining -= count;
    }
  }
  return plan;
}

}  // namespace aimass::data
