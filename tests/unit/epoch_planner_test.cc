#include "common/data/epoch_planner.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <vector>

namespace aimass::data {
namespace {

// Shards of 7, 0, 10 and 5 records: 22 in all, one empty part file in between.
DatasetIndex SampleIndex() {
  DatasetIndex index;
  index.feature_count = 4;
  for (uint64_t records : {7, 0, 10, 5}) {
    index.shards.push_back(ShardInfo{"part-" + std::to_string(index.shards.size()), records});
  }
  return index;
}

// A stream's records as global record numbers, in order.
std::vector<uint64_t> GlobalRecords(const DatasetIndex& index, const std::vector<SampleRange>& ranges) {
  std::vector<uint64_t> starts;
  uint64_t start = 0;
  for (const ShardInfo& shard : index.shards) {
    starts.push_back(start);
    start += shard.records;
  }
  std::vector<uint64_t> records;
  for (const SampleRange& range : ranges) {
    REQUIRE(range.count > 0);
    REQUIRE(range.begin + range.count <= index.shards[range.shard].records);
    for (uint64_t i = 0; i < range.count; ++i) records.push_back(starts[range.shard] + range.begin + i);
  }
  return records;
}

std::map<uint64_t, int> CountRecords(const DatasetIndex& index, const EpochPartition& plan) {
  std::map<uint64_t, int> counts;
  for (const WorkerStream& stream : plan.workers) {
    for (uint64_t g : GlobalRecords(index, stream.ranges)) ++counts[g];
  }
  return counts;
}

// A plan's records grouped by optimizer step, across workers. Every step but the last gives each
// worker `samples_per_step` records and the last gives each the same smaller share, so the i-th
// record of a worker's stream belongs to step i / samples_per_step.
std::vector<std::multiset<uint64_t>> StepUnions(const DatasetIndex& index, const EpochPartition& plan,
                                                uint64_t samples_per_step) {
  std::vector<std::multiset<uint64_t>> steps(plan.steps);
  for (const WorkerStream& stream : plan.workers) {
    const std::vector<uint64_t> records = GlobalRecords(index, stream.ranges);
    for (size_t i = 0; i < records.size(); ++i) steps[i / samples_per_step].insert(records[i]);
  }
  return steps;
}

TEST_CASE("PlanEpoch: every record exactly once when the workers divide it", "[planner]") {
  const DatasetIndex index = SampleIndex();
  for (uint32_t workers : {1u, 2u, 11u}) {
    for (bool shuffle : {true, false}) {
      EpochPlanOptions options;
      options.seed = 7;
      options.workers = workers;
      options.samples_per_step = 3;
      options.shuffle = shuffle;
      const EpochPartition plan = PlanEpoch(index, options);
      INFO("workers " << workers << " shuffle " << shuffle);
      REQUIRE(plan.workers.size() == workers);
      CHECK(plan.samples_per_worker == 22 / workers);
      const auto counts = CountRecords(index, plan);
      REQUIRE(counts.size() == 22);
      for (const auto& [record, count] : counts) CHECK(count == 1);
      for (const WorkerStream& stream : plan.workers) {
        CHECK(stream.samples == plan.samples_per_worker);
        CHECK(GlobalRecords(index, stream.ranges).size() == plan.samples_per_worker);
      }
    }
  }
}

TEST_CASE("PlanEpoch: kPad repeats the first records, kDrop drops the tail", "[planner]") {
  const DatasetIndex index = SampleIndex();
  EpochPlanOptions options;
  options.seed = 3;
  options.workers = 4;  // 22 records: 2 padded, or 2 dropped
  options.samples_per_step = 2;

  SECTION("pad") {
    const EpochPartition plan = PlanEpoch(index, options);
    CHECK(plan.samples_per_worker == 6);
    const auto counts = CountRecords(index, plan);
    REQUIRE(counts.size() == 22);  // every record at least once
    int twice = 0;
    for (const auto& [record, count] : counts) {
      REQUIRE(count <= 2);
      twice += count == 2;
    }
    CHECK(twice == 2);
    // The repeated records are the permutation's first two, which a single worker (no padding)
    // sees first.
    EpochPlanOptions one_worker = options;
    one_worker.workers = 1;
    const auto order = GlobalRecords(index, PlanEpoch(index, one_worker).workers[0].ranges);
    CHECK(counts.at(order[0]) == 2);
    CHECK(counts.at(order[1]) == 2);
  }
  SECTION("drop") {
    options.remainder = RemainderPolicy::kDrop;
    const EpochPartition plan = PlanEpoch(index, options);
    CHECK(plan.samples_per_worker == 5);
    const auto counts = CountRecords(index, plan);
    CHECK(counts.size() == 20);
    for (const auto& [record, count] : counts) CHECK(count == 1);
  }
  SECTION("fewer records than workers: pad repeats cyclically, drop leaves nothing") {
    DatasetIndex tiny;
    tiny.shards.push_back(ShardInfo{"only", 2});
    options.workers = 5;
    const EpochPartition padded = PlanEpoch(tiny, options);
    CHECK(padded.samples_per_worker == 1);
    CHECK(padded.steps == 1);
    const auto counts = CountRecords(tiny, padded);
    CHECK(counts.size() == 2);
    CHECK(counts.at(0) + counts.at(1) == 5);
    options.remainder = RemainderPolicy::kDrop;
    const EpochPartition dropped = PlanEpoch(tiny, options);
    CHECK(dropped.samples_per_worker == 0);
    CHECK(dropped.steps == 0);
    for (const WorkerStream& stream : dropped.workers) CHECK(stream.ranges.empty());
  }
}

TEST_CASE("PlanEpoch is deterministic in (seed, epoch) and differs across them", "[planner]") {
  const DatasetIndex index = SampleIndex();
  EpochPlanOptions options;
  options.seed = 42;
  options.epoch = 1;
  options.workers = 2;
  options.samples_per_step = 4;
  auto records = [&](const EpochPlanOptions& o) {
    const EpochPartition plan = PlanEpoch(index, o);
    return std::make_pair(GlobalRecords(index, plan.workers[0].ranges),
                          GlobalRecords(index, plan.workers[1].ranges));
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
  DatasetIndex ten;
  ten.shards.push_back(ShardInfo{"ten", 10});
  EpochPlanOptions pinned;
  pinned.seed = 42;
  CHECK(GlobalRecords(ten, PlanEpoch(ten, pinned).workers[0].ranges) ==
        std::vector<uint64_t>{2, 0, 4, 7, 8, 3, 5, 1, 9, 6});
}

TEST_CASE("PlanEpoch: 2 workers x B see the batches 1 worker x 2B sees", "[planner]") {
  const DatasetIndex index = SampleIndex();  // 22 records: no padding for 1 or 2 workers
  for (uint64_t batch : {1, 3, 4, 11, 30}) {
    EpochPlanOptions one;
    one.seed = 5;
    one.epoch = 2;
    one.workers = 1;
    one.samples_per_step = 2 * batch;
    EpochPlanOptions two = one;
    two.workers = 2;
    two.samples_per_step = batch;
    const EpochPartition plan_one = PlanEpoch(index, one), plan_two = PlanEpoch(index, two);
    INFO("batch " << batch);
    REQUIRE(plan_one.steps == plan_two.steps);
    const auto steps_one = StepUnions(index, plan_one, 2 * batch);
    const auto steps_two = StepUnions(index, plan_two, batch);
    CHECK(steps_one == steps_two);
  }
}

TEST_CASE("PlanEpoch: shuffle off merges each worker's records into few ranges", "[planner]") {
  const DatasetIndex index = SampleIndex();
  EpochPlanOptions options;
  options.shuffle = false;
  options.samples_per_step = 5;
  const EpochPartition whole = PlanEpoch(index, options);
  CHECK(whole.workers[0].ranges ==
        std::vector<SampleRange>{{0, 0, 7}, {2, 0, 10}, {3, 0, 5}});  // the empty shard 1 skipped

  options.workers = 2;  // steps of 10: worker 0 gets [0,5) [10,15) [20,21), worker 1 the rest
  const EpochPartition split = PlanEpoch(index, options);
  CHECK(split.workers[0].ranges ==
        std::vector<SampleRange>{{0, 0, 5}, {2, 3, 5}, {3, 3, 1}});
  CHECK(split.workers[1].ranges ==
        std::vector<SampleRange>{{0, 5, 2}, {2, 0, 3}, {2, 8, 2}, {3, 0, 3}, {3, 4, 1}});
}

TEST_CASE("PlanEpoch: limit uses only the first records", "[planner]") {
  const DatasetIndex index = SampleIndex();
  EpochPlanOptions options;
  options.seed = 9;
  options.workers = 3;
  options.samples_per_step = 2;
  options.limit = 12;
  const EpochPartition plan = PlanEpoch(index, options);
  CHECK(plan.samples_per_worker == 4);
  CHECK(plan.steps == 2);
  const auto counts = CountRecords(index, plan);
  REQUIRE(counts.size() == 12);
  CHECK(counts.rbegin()->first == 11);
  options.limit = 1000;  // more than there are: all of them
  CHECK(CountRecords(index, PlanEpoch(index, options)).size() == 22);
}

TEST_CASE("StepsPerEpoch agrees with PlanEpoch", "[planner]") {
  const DatasetIndex index = SampleIndex();
  for (uint32_t workers : {1u, 2u, 3u, 5u, 22u, 23u, 40u}) {
    for (uint64_t per_step : {1u, 2u, 3u, 7u, 64u}) {
      for (auto remainder : {RemainderPolicy::kPad, RemainderPolicy::kDrop}) {
        for (uint64_t limit : {0u, 1u, 13u}) {
          EpochPlanOptions options;
          options.workers = workers;
          options.samples_per_step = per_step;
          options.remainder = remainder;
          options.limit = limit;
          const EpochPartition plan = PlanEpoch(index, options);
          INFO("workers " << workers << " per_step " << per_step << " limit " << limit);
          REQUIRE(StepsPerEpoch(index.total_records(), options) == plan.steps);
          // The steps cover each worker's samples exactly: all full but the last.
          CHECK(plan.steps * per_step >= plan.samples_per_worker);
          if (plan.steps > 0) CHECK((plan.steps - 1) * per_step < plan.samples_per_worker);
        }
      }
    }
  }
}

TEST_CASE("PlanEvaluation: contiguous parts, every record once, sizes within one", "[planner]") {
  const DatasetIndex index = SampleIndex();
  for (uint32_t workers : {1u, 3u, 4u, 22u, 30u}) {
    const auto plan = PlanEvaluation(index, workers);
    REQUIRE(plan.size() == workers);
    std::vector<uint64_t> all;
    size_t smallest = SIZE_MAX, largest = 0;
    for (const auto& part : plan) {
      const auto records = GlobalRecords(index, part);
      smallest = std::min(smallest, records.size());
      largest = std::max(largest, records.size());
      all.insert(all.end(), records.begin(), records.end());
    }
    INFO("workers " << workers);
    CHECK(largest - smallest <= 1);
    REQUIRE(all.size() == 22);
    for (uint64_t i = 0; i < 22; ++i) CHECK(all[i] == i);  // contiguous and in order
  }
  const auto four = PlanEvaluation(index, 4);  // 6, 6, 5, 5 records, split at shard ends
  CHECK(four[0] == std::vector<SampleRange>{{0, 0, 6}});
  CHECK(four[1] == std::vector<SampleRange>{{0, 6, 1}, {2, 0, 5}});
  CHECK(four[2] == std::vector<SampleRange>{{2, 5, 5}});
  CHECK(four[3] == std::vector<SampleRange>{{3, 0, 5}});
  CHECK(PlanEvaluation(index, 30)[29].empty());
}

}  // namespace
}  // namespace aimass::data
