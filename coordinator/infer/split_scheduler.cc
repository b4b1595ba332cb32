#include "coordinator/infer/split_scheduler.h"

#include <algorithm>
#include <iterator>

namespace aimass::coordinator {

SplitScheduler::SplitScheduler(uint32_t splits, uint32_t workers, uint32_t max_attempts)
    : splits_(splits), room_(workers, 0), lost_(workers, false), max_attempts_(max_attempts) {
  for (uint32_t split = 0; split < splits; ++split) queue_.push_back(split);
}

void SplitScheduler::SkipCommitted(uint32_t split) {
  SplitState& state = splits_.at(split);
  if (state.committed) return;
  state.committed = true;
  ++committed_count_;
  queue_.erase(std::remove(queue_.begin(), queue_.end(), split), queue_.end());
}

void SplitScheduler::AddRoom(uint32_t rank, uint32_t splits) {
  if (!lost_.at(rank)) room_.at(rank) += splits;
}

std::optional<Assignment> SplitScheduler::Next() {
  if (queue_.empty()) return std::nullopt;
  // The worker with the most room: spreads the first splits over every worker.
  auto best = std::max_element(room_.begin(), room_.end());
  if (best == room_.end() || *best == 0) return std::nullopt;
  Assignment assignment;
  assignment.rank = static_cast<uint32_t>(best - room_.begin());
  assignment.split = queue_.front();
  assignment.attempt_id = next_attempt_id_++;
  queue_.pop_front();
  --*best;
  running_[assignment.attempt_id] = Running{assignment.split, assignment.rank};
  return assignment;
}

bool SplitScheduler::ShouldCommit(uint64_t attempt_id) const {
  auto found = running_.find(attempt_id);
  return found != running_.end() && !splits_[found->second.split].committed;
}

void SplitScheduler::OnCommitted(uint64_t attempt_id) {
  auto found = running_.find(attempt_id);
  if (found == running_.end()) return;
  SplitState& state = splits_[found->second.split];
  if (!state.committed) {
    state.committed = true;
    ++committed_count_;
  }
  running_.erase(found);
}

void SplitScheduler::OnDiscarded(uint64_t attempt_id) { running_.erase(attempt_id); }

Status SplitScheduler::OnFailed(uint64_t attempt_id, const std::string& reason) {
  auto found = running_.find(attempt_id);
  if (found == running_.end()) return Status::Ok();  // already written off with its worker
  uint32_t split = found->second.split;
  running_.erase(found);
  ++failed_attempts_;
  SplitState& state = splits_[split];
  if (state.committed) return Status::Ok();
  ++state.failures;
  state.errors.push_back("attempt " + std::to_string(attempt_id) + ": " + reason);
  if (state.failures >= max_attempts_) {
    std::string summary = "split " + std::to_string(split) + " failed all " +
                          std::to_string(max_attempts_) + " attempts";
    for (const std::string& error : state.errors) summary += "; " + error;
    return Status::Error(summary);
  }
  // Retried after the splits already waiting, so a split that kills workers comes back last.
  queue_.push_back(split);
  return Status::Ok();
}

Status SplitScheduler::OnWorkerLost(uint32_t rank, const std::string& reason) {
  lost_.at(rank) = true;
  room_.at(rank) = 0;
  std::set<uint64_t> attempts = AttemptsOf(rank);
  if (attempts.empty()) return Status::Ok();
  // A worker runs its splits in the order given: the oldest was running and may be why the
  // worker died, so it is charged; the ones queued behind it never started and are not.
  for (auto it = std::next(attempts.begin()); it != attempts.end(); ++it) {
    auto found = running_.find(*it);
    uint32_t split = found->second.split;
    running_.erase(found);
    if (!splits_[split].committed) queue_.push_front(split);
  }
  return OnFailed(*attempts.begin(), reason);
}

std::optional<uint32_t> SplitScheduler::SplitOf(uint64_t attempt_id) const {
  auto found = running_.find(attempt_id);
  if (found == running_.end()) return std::nullopt;
  return found->second.split;
}

std::set<uint64_t> SplitScheduler::AttemptsOf(uint32_t rank) const {
  std::set<uint64_t> attempts;
  for (const auto& [attempt_id, running] : running_) {
    if (running.rank == rank) attempts.insert(attempt_id);
  }
  return attempts;
}

}  // namespace aimass::coordinator
