#include "coordinator/infer/split_scheduler.h"

#include "tests/catch.h"

#include <set>

namespace aimass::coordinator {
namespace {

TEST_CASE("splits go only to workers that asked, most room first", "[scheduler]") {
  SplitScheduler scheduler(5, 2, 4);
  REQUIRE_FALSE(scheduler.Next());  // nobody asked yet
  scheduler.AddRoom(1, 2);
  scheduler.AddRoom(0, 1);
  auto first = scheduler.Next();
  REQUIRE(first);
  REQUIRE(first->rank == 1);
  REQUIRE(first->split == 0);
  auto second = scheduler.Next();
  auto third = scheduler.Next();
  REQUIRE(second);
  REQUIRE(third);
  REQUIRE_FALSE(scheduler.Next());  // room used up, two splits still wait
  std::set<uint64_t> ids{first->attempt_id, second->attempt_id, third->attempt_id};
  REQUIRE(ids.size() == 3);  // every attempt has its own id
  REQUIRE(scheduler.AttemptsOf(1).size() == 2);
}

TEST_CASE("a split is committed once; a second attempt's success is discarded", "[scheduler]") {
  SplitScheduler scheduler(1, 2, 4);
  scheduler.AddRoom(0, 1);
  auto slow = scheduler.Next();
  REQUIRE(scheduler.OnFailed(slow->attempt_id, "read error").ok());  // retried ...
  scheduler.AddRoom(1, 1);
  auto retry = scheduler.Next();
  REQUIRE(retry->split == slow->split);
  REQUIRE(retry->attempt_id != slow->attempt_id);
  REQUIRE_FALSE(scheduler.ShouldCommit(slow->attempt_id));  // ... and the failed one is forgotten
  REQUIRE(scheduler.ShouldCommit(retry->attempt_id));
  scheduler.OnCommitted(retry->attempt_id);
  REQUIRE(scheduler.finished());
  REQUIRE(scheduler.failed_attempts() == 1);
}

TEST_CASE("a split that fails max_attempts times fails the job with every reason", "[scheduler]") {
  SplitScheduler scheduler(2, 1, 3);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    scheduler.AddRoom(0, 1);
    auto next = scheduler.Next();
    while (next->split != 1) {  // split 0 succeeds
      scheduler.OnCommitted(next->attempt_id);
      scheduler.AddRoom(0, 1);
      next = scheduler.Next();
    }
    Status status = scheduler.OnFailed(next->attempt_id, "error " + std::to_string(attempt));
    REQUIRE(status.ok() == (attempt < 3));
    if (!status.ok()) {
      REQUIRE_THAT(status.message(), Catch::Contains("split 1 failed all 3 attempts"));
      REQUIRE_THAT(status.message(), Catch::Contains("error 1"));
      REQUIRE_THAT(status.message(), Catch::Contains("error 3"));
    }
  }
}

TEST_CASE("a lost worker's attempts are re-queued and it gets no more work", "[scheduler]") {
  SplitScheduler scheduler(3, 2, 4);
  scheduler.AddRoom(0, 2);
  auto a = scheduler.Next();
  auto b = scheduler.Next();
  REQUIRE(scheduler.OnWorkerLost(0, "killed").ok());
  scheduler.AddRoom(0, 5);  // a late request from the lost worker is ignored
  REQUIRE_FALSE(scheduler.Next());
  scheduler.AddRoom(1, 3);
  std::set<uint32_t> splits;
  while (auto next = scheduler.Next()) {
    REQUIRE(next->rank == 1);
    splits.insert(next->split);
    scheduler.OnCommitted(next->attempt_id);
  }
  REQUIRE(splits == std::set<uint32_t>{0, 1, 2});
  REQUIRE(scheduler.finished());
  REQUIRE(scheduler.failed_attempts() == 1);  // only the attempt it was running counts
  REQUIRE_FALSE(scheduler.ShouldCommit(a->attempt_id));
  REQUIRE_FALSE(scheduler.ShouldCommit(b->attempt_id));
}

TEST_CASE("with max_attempts 1, losing a worker fails only the split it was running",
          "[scheduler]") {
  SplitScheduler scheduler(3, 2, 1);
  scheduler.AddRoom(0, 2);
  auto running = scheduler.Next();
  auto queued = scheduler.Next();
  Status lost = scheduler.OnWorkerLost(0, "killed");
  REQUIRE_FALSE(lost.ok());
  REQUIRE_THAT(lost.message(), Catch::Contains("split " + std::to_string(running->split)));
  REQUIRE_FALSE(scheduler.ShouldCommit(queued->attempt_id));
}

TEST_CASE("splits committed by an earlier run are never scheduled", "[scheduler]") {
  SplitScheduler scheduler(3, 1, 4);
  scheduler.SkipCommitted(0);
  scheduler.SkipCommitted(2);
  scheduler.AddRoom(0, 3);
  auto only = scheduler.Next();
  REQUIRE(only->split == 1);
  REQUIRE_FALSE(scheduler.Next());
  scheduler.OnCommitted(only->attempt_id);
  REQUIRE(scheduler.finished());
}

}  // namespace
}  // namespace aimass::coordinator
