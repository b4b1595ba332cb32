// SplitScheduler: which worker runs which split, and what happens when an attempt fails.
// Dispatch is pull-based: a worker announces room for more splits (WorkRequest) and is given at
// most that many, so fast workers take more of the job. Every assignment is a new attempt with
// its own id; a split is done once one attempt of it is committed, and later reports of other
// attempts of it are discarded. A failed attempt (an error, or the attempt its worker was running
// when lost) puts the split back in the queue until it has failed `max_attempts` times, which
// fails the job.
// Pure bookkeeping, no I/O. Not thread-safe: the job's thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::coordinator {

struct Assignment {
  uint64_t attempt_id = 0;
  uint32_t split = 0;
  uint32_t rank = 0;
};

class SplitScheduler {
 public:
  SplitScheduler(uint32_t splits, uint32_t workers, uint32_t max_attempts);

  // A split committed by an earlier run of the same job: never scheduled.
  void SkipCommitted(uint32_t split);

  void AddRoom(uint32_t rank, uint32_t splits);
  // The next assignment to send, or nullopt when no worker has room or no split waits.
  std::optional<Assignment> Next();

  // Whether the attempt that just reported success should be committed: it is one this
  // scheduler gave out, its worker was not written off, and its split is not committed yet.
  bool ShouldCommit(uint64_t attempt_id) const;
  void OnCommitted(uint64_t attempt_id);
  // An attempt that finished without being committed (a duplicate): forgotten.
  void OnDiscarded(uint64_t attempt_id);
  // Re-queues the split, or fails once it has failed max_attempts times.
  Status OnFailed(uint64_t attempt_id, const std::string& reason);
  // The worker gets no more work. The attempt it was running (its oldest) fails; the ones
  // queued behind it go back to the queue without counting as failures.
  Status OnWorkerLost(uint32_t rank, const std::string& reason);

  std::optional<uint32_t> SplitOf(uint64_t attempt_id) const;
  std::set<uint64_t> AttemptsOf(uint32_t rank) const;
  uint32_t committed() const { return committed_count_; }
  uint32_t total() const { return static_cast<uint32_t>(splits_.size()); }
  bool finished() const { return committed_count_ == splits_.size(); }
  uint64_t failed_attempts() const { return failed_attempts_; }

 private:
  struct SplitState {
    bool committed = false;
    uint32_t failures = 0;
    std::vector<std::string> errors;  // one per failed attempt, for the final summary
  };
  struct Running {
    uint32_t split;
    uint32_t rank;
  };

  std::vector<SplitState> splits_;
  std::vector<uint32_t> room_;    // per rank: splits it asked for and has not been given
  std::vector<bool> lost_;        // per rank
  std::deque<uint32_t> queue_;    // splits waiting for a worker, in order
  std::map<uint64_t, Running> running_;
  uint32_t max_attempts_;
  uint64_t next_attempt_id_ = 1;
  uint32_t committed_count_ = 0;
  uint64_t failed_attempts_ = 0;
};

}  // namespace aimass::coordinator
