#include "common/data/epoch_planner.h"

#include <algorithm>
#include "tests/catch.h"
#include <map>
#include <set>
#include <vector>

#include "common/aimass.pb.h"
#include "common/data/plan_wire.h"

namespace aimass::data {
namespace {

// Splits of 7, 0, 10 and 5 records: 22 in all, one empty part file in between.
const std::vector<uint64_t> kSplits = {7, 0, 10, 5};

std::vector<uint64_t> Starts(const std::vector<uint64_t>& splits) {
  std::vector<uint64_t> starts;
  uint64_t start = 0;
  for (uint64_t records : splits) {
    starts.push_back(start);
    start += records;
  }
  return starts;
}

// Worker `rank`'s samples as global record numbers (the dataset's records in split order), in
// training order. Checks on the way that every sample lies in its split and that the stream's
// segments name the split of each of their samples (what the loader prefetches).
std::vector<uint64_t> StreamRecords(const EpochPlan& plan, const std::vector<uint64_t>& splits,
                                    uint32_t rank) {
  const std::vector<uint64_t> starts = Starts(splits);
  EpochStream stream(plan, splits, rank);
  const auto segments = stream.Segments();
  std::vector<uint64_t> records;
  size_t segment = 0;
  for (uint64_t k = 0; k < stream.size(); ++k) {
    const SampleRef sample = stream.At(k);
    REQUIRE(sample.split < splits.size());
    REQUIRE(sample.record < splits[sample.split]);
    while (segment + 1 < segments.size() && segments[segment + 1].first_sample <= k) ++segment;
    REQUIRE(!segments.empty());
    REQUIRE(segments[segment].first_sample <= k);
    const auto& needed = segments[segment].splits;
    REQUIRE(std::find(needed.begin(), needed.end(), sample.split) != needed.end());
    records.push_back(starts[sample.split] + sample.record);
  }
  return records;
}

std::map<uint64_t, int> CountRecords(const EpochPlan& plan, const std::vector<uint64_t>& splits) {
  std::map<uint64_t, int> counts;
  for (uint32_t rank = 0; rank < plan.workers; ++rank) {
    for (uint64_t g : StreamRecords(plan, splits, rank)) ++counts[g];
  }
  return counts;
}

// A plan's records grouped by optimizer step, across workers. Every step but the last gives each
// worker `samples_per_step` records and the last gives each the same smaller share, so the i-th
// record of a worker's stream belongs to step i / samples_per_step.
std::vector<std::multiset<uint64_t>> StepUnions(const EpochPlan& plan, const std::vector<uint64_t>& splits) {
  std::vector<std::multiset<uint64_t>> steps(plan.steps);
  for (uint32_t rank = 0; rank < plan.workers; ++rank) {
    const std::vector<uint64_t> records = StreamRecords(plan, splits, rank);
    for (size_t i = 0; i < records.size(); ++i) steps[i / plan.samples_per_step].insert(records[i]);
  }
  return steps;
}

std::vector<uint64_t> GlobalRecords(const std::vector<uint64_t>& splits, const std::vector<SampleRange>& ranges) {
  const std::vector<uint64_t> starts = Starts(splits);
  std::vector<uint64_t> records;
  for (const SampleRange& range : ranges) {
    REQUIRE(range.count > 0);
    REQUIRE(range.begin + range.count <= splits[range.split]);
    for (uint64_t i = 0; i < range.count; ++i) records.push_back(starts[range.split] + range.begin + i);
  }
  return records;
}

TEST_CASE("PlanEpoch: every record exactly once when the workers divide it", "[planner]") {
  for (uint32_t workers : {1u, 2u, 11u}) {
    for (bool shuffle : {true, false}) {
      for (uint64_t window : {0u, 1u, 4u, 9u}) {
        EpochPlanOptions options;
        options.seed = 7;
        options.workers = workers;
        options.samples_per_step = 3;
        options.shuffle = shuffle;
        options.shuffle_window = window;
        const EpochPlan plan = PlanEpoch(kSplits, options);
        INFO("workers " << workers << " shuffle " << shuffle << " window " << window);
        CHECK(plan.samples_per_worker == 22 / workers);
        const auto counts = CountRecords(plan, kSplits);
        REQUIRE(counts.size() == 22);
        for (const auto& [record, count] : counts) CHECK(count == 1);
      }
    }
  }
}

TEST_CASE("PlanEpoch: kPad repeats the first records, kDrop drops the tail", "[planner]") {
  EpochPlanOptions options;
  options.seed = 3;
  options.workers = 4;  // 22 records: 2 padded, or 2 dropped
  options.samples_per_step = 2;

  SECTION("pad") {
    const EpochPlan plan = PlanEpoch(kSplits, options);
    CHECK(plan.samples_per_worker == 6);
    const auto counts = CountRecords(plan, kSplits);
    REQUIRE(counts.size() == 22);  // every record at least once
    int twice = 0;
    for (const auto& [record, count] : counts) {
      REQUIRE(count <= 2);
      twice += count == 2;
    }
    CHECK(twice == 2);
    // The repeated records are the epoch sequence's first two, which a single worker (no
    // padding) sees first.
    EpochPlanOptions one_worker = options;
    one_worker.workers = 1;
    const auto order = StreamRecords(PlanEpoch(kSplits, one_worker), kSplits, 0);
    CHECK(counts.at(order[0]) == 2);
    CHECK(counts.at(order[1]) == 2);
  }
  SECTION("drop") {
    options.remainder = RemainderPolicy::kDrop;
    const EpochPlan plan = PlanEpoch(kSplits, options);
    CHECK(plan.samples_per_worker == 5);
    const auto counts = CountRecords(plan, kSplits);
    CHECK(counts.size() == 20);
    for (const auto& [record, count] : counts) CHECK(count == 1);
  }
  SECTION("fewer records than workers: pad repeats cyclically, drop leaves nothing") {
    const std::vector<uint64_t> tiny = {2};
    options.workers = 5;
    const EpochPlan padded = PlanEpoch(tiny, options);
    CHECK(padded.samples_per_worker == 1);
    CHECK(padded.steps == 1);
    const auto counts = CountRecords(padded, tiny);
    CHECK(counts.size() == 2);
    CHECK(counts.at(0) + counts.at(1) == 5);
    options.remainder = RemainderPolicy::kDrop;
    const EpochPlan dropped = PlanEpoch(tiny, options);
    CHECK(dropped.samples_per_worker == 0);
    CHECK(dropped.steps == 0);
    for (uint32_t rank = 0; rank < 5; ++rank) CHECK(StreamRecords(dropped, tiny, rank).empty());
  }
}

TEST_CASE("PlanEpoch is deterministic in (seed, epoch) and differs across them", "[planner]") {
  EpochPlanOptions options;
  options.seed = 42;
  options.epoch = 1;
  options.workers = 2;
  options.samples_per_step = 4;
  auto records = [&](const EpochPlanOptions& o) {
    const EpochPlan plan = PlanEpoch(kSplits, o);
    return std::make_pair(StreamRecords(plan, kSplits, 0), StreamRecords(plan, kSplits, 1));
  };
  const auto reference = records(options);
  CHECK(records(options) == reference);
  EpochPlanOptions other_seed = options;
  other_seed.seed = 43;
  CHECK(records(other_seed) != reference);
  EpochPlanOptions other_epoch = options;
  other_epoch.epoch = 2;
  CHECK(records(other_epoch) != reference);

  // Pinned, so that a change of generator or of the shuffle (which would silently give workers
  // on different builds different plans) fails here.
  EpochPlanOptions pinned;
  pinned.seed = 42;
  const EpochPlan plan = PlanEpoch({4, 6}, pinned);
  CHECK(plan.split_order == std::vector<uint32_t>{1, 0});
  CHECK(StreamRecords(plan, {4, 6}, 0) == std::vector<uint64_t>{7, 5, 3, 4, 9, 0, 6, 1, 8, 2});
}

TEST_CASE("PlanEpoch: 2 workers x B see the batches 1 worker x 2B sees", "[planner]") {
  for (uint64_t window : {0u, 5u}) {
    for (uint64_t batch : {1, 3, 4, 11, 30}) {
      EpochPlanOptions one;  // 22 records: no padding for 1 or 2 workers
      one.seed = 5;
      one.epoch = 2;
      one.workers = 1;
      one.samples_per_step = 2 * batch;
      one.shuffle_window = window;
      EpochPlanOptions two = one;
      two.workers = 2;
      two.samples_per_step = batch;
      const EpochPlan plan_one = PlanEpoch(kSplits, one), plan_two = PlanEpoch(kSplits, two);
      INFO("batch " << batch << " window " << window);
      REQUIRE(plan_one.steps == plan_two.steps);
      CHECK(StepUnions(plan_one, kSplits) == StepUnions(plan_two, kSplits));
    }
  }
}

TEST_CASE("PlanEpoch: a shuffle window mixes only its own records", "[planner]") {
  EpochPlanOptions options;
  options.seed = 11;
  options.shuffle_window = 6;
  const EpochPlan plan = PlanEpoch(kSplits, options);
  // The epoch's unshuffled sequence: the splits in plan order, each in file order.
  const std::vector<uint64_t> starts = Starts(kSplits);
  std::vector<uint64_t> sequence;
  for (uint32_t split : plan.split_order) {
    for (uint64_t r = 0; r < kSplits[split]; ++r) sequence.push_back(starts[split] + r);
  }
  const auto shuffled = StreamRecords(plan, kSplits, 0);
  REQUIRE(shuffled.size() == 22);
  for (size_t window = 0; window * 6 < 22; ++window) {
    const size_t end = std::min<size_t>(22, window * 6 + 6);
    std::multiset<uint64_t> expected(sequence.begin() + window * 6, sequence.begin() + end);
    std::multiset<uint64_t> got(shuffled.begin() + window * 6, shuffled.begin() + end);
    CHECK(got == expected);
  }
  CHECK(shuffled != sequence);
}

TEST_CASE("PlanEpoch: shuffle off keeps split order and file order", "[planner]") {
  EpochPlanOptions options;
  options.shuffle = false;
  options.samples_per_step = 5;
  const EpochPlan whole = PlanEpoch(kSplits, options);
  CHECK(whole.split_order == std::vector<uint32_t>{0, 1, 2, 3});
  std::vector<uint64_t> in_order(22);
  for (uint64_t i = 0; i < 22; ++i) in_order[i] = i;
  CHECK(StreamRecords(whole, kSplits, 0) == in_order);
  EpochStream stream(whole, kSplits, 0);
  CHECK(stream.Segments().size() == 3);  // one segment a non-empty split: the loader reads ahead

  options.workers = 2;  // steps of 10: worker 0 gets [0,5) [10,15) [20,21), worker 1 the rest
  const EpochPlan split = PlanEpoch(kSplits, options);
  CHECK(StreamRecords(split, kSplits, 0) == std::vector<uint64_t>{0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20});
  CHECK(StreamRecords(split, kSplits, 1) == std::vector<uint64_t>{5, 6, 7, 8, 9, 15, 16, 17, 18, 19, 21});
}

TEST_CASE("StepsPerEpoch agrees with PlanEpoch", "[planner]") {
  for (uint32_t workers : {1u, 2u, 3u, 5u, 22u, 23u, 40u}) {
    for (uint64_t per_step : {1u, 2u, 3u, 7u, 64u}) {
      for (auto remainder : {RemainderPolicy::kPad, RemainderPolicy::kDrop}) {
        EpochPlanOptions options;
        options.workers = workers;
        options.samples_per_step = per_step;
        options.remainder = remainder;
        const EpochPlan plan = PlanEpoch(kSplits, options);
        INFO("workers " << workers << " per_step " << per_step);
        REQUIRE(StepsPerEpoch(22, options) == plan.steps);
        // The steps cover each worker's samples exactly: all full but the last.
        CHECK(plan.steps * per_step >= plan.samples_per_worker);
        if (plan.steps > 0) CHECK((plan.steps - 1) * per_step < plan.samples_per_worker);
      }
    }
  }
}

TEST_CASE("An epoch of 100,000,000 records in 1,000 splits plans in under 1 MiB", "[planner]") {
  std::vector<uint64_t> splits(1000, 100'000);
  EpochPlanOptions options;
  options.seed = 1;
  options.epoch = 3;
  options.workers = 8;
  options.samples_per_step = 256;
  options.shuffle_window = 1 << 18;
  const EpochPlan plan = PlanEpoch(splits, options);
  CHECK(plan.samples_per_worker == 12'500'000);
  proto::EpochPlan encoded;
  EncodeEpochPlan(plan, 0, &encoded);
  const size_t bytes = encoded.ByteSizeLong();
  INFO("encoded plan: " << bytes << " bytes");
  CHECK(bytes < (1u << 20));
  CHECK(bytes < 4 * 1000);  // a split's index is a one- or two-byte varint

  // What a worker derives from it, without listing its 12.5M samples: the first and last ones
  // are valid records, and its segments (shuffle windows) stay few.
  const EpochPlan decoded = DecodeEpochPlan(encoded);
  CHECK(decoded.split_order == plan.split_order);
  EpochStream stream(decoded, splits, 7);
  for (uint64_t k : {uint64_t{0}, uint64_t{1}, uint64_t{12'499'999}}) {
    const SampleRef sample = stream.At(k);
    CHECK(sample.split < 1000);
    CHECK(sample.record < 100'000);
  }
  CHECK(stream.Segments().size() <= 100'000'000 / (1 << 18) + 2);
}

TEST_CASE("RangeSequence walks explicit ranges in order", "[planner]") {
  RangeSequence sequence({{2, 3, 2}, {0, 0, 1}, {3, 1, 3}});
  REQUIRE(sequence.size() == 6);
  const std::vector<SampleRef> expected = {{2, 3}, {2, 4}, {0, 0}, {3, 1}, {3, 2}, {3, 3}};
  for (uint64_t k = 0; k < 6; ++k) CHECK(sequence.At(k) == expected[k]);
  CHECK(sequence.At(1) == expected[1]);  // backwards too
  CHECK(sequence.Segments().size() == 3);
}

TEST_CASE("PlanEvaluation: contiguous parts, every record once, sizes within one", "[planner]") {
  for (uint32_t workers : {1u, 3u, 4u, 22u, 30u}) {
    const auto plan = PlanEvaluation(kSplits, workers);
    REQUIRE(plan.size() == workers);
    std::vector<uint64_t> all;
    size_t smallest = SIZE_MAX, largest = 0;
    for (const auto& part : plan) {
      const auto records = GlobalRecords(kSplits, part);
      smallest = std::min(smallest, records.size());
      largest = std::max(largest, records.size());
      all.insert(all.end(), records.begin(), records.end());
    }
    INFO("workers " << workers);
    CHECK(largest - smallest <= 1);
    REQUIRE(all.size() == 22);
    for (uint64_t i = 0; i < 22; ++i) CHECK(all[i] == i);  // contiguous and in order
  }
  const auto four = PlanEvaluation(kSplits, 4);  // 6, 6, 5, 5 records, split at split ends
  CHECK(four[0] == std::vector<SampleRange>{{0, 0, 6}});
  CHECK(four[1] == std::vector<SampleRange>{{0, 6, 1}, {2, 0, 5}});
  CHECK(four[2] == std::vector<SampleRange>{{2, 5, 5}});
  CHECK(four[3] == std::vector<SampleRange>{{3, 0, 5}});
  CHECK(PlanEvaluation(kSplits, 30)[29].empty());
}

}  // namespace
}  // namespace aimass::data
