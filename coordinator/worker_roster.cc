#include "coordinator/worker_roster.h"

#include "common/aimass.pb.h"

namespace aimass::coordinator {

using Clock = std::chrono::steady_clock;

WorkerRoster::WorkerRoster(WorkerHub& hub, uint32_t expected_workers)
    : hub_(hub), workers_(expected_workers) {}

Status WorkerRoster::OnHello(ConnectionId connection, const proto::Hello& hello) {
  uint32_t rank = hello.rank();
  if (hello.world_size() != size() || rank >= size()) {
    return Status::Error("a worker reports rank " + std::to_string(rank) + " of " +
                         std::to_string(hello.world_size()) + ", but the job has " +
                         std::to_string(size()) + " workers");
  }
  WorkerInfo& worker = workers_[rank];
  if (worker.connected) {
    return Status::AlreadyExists("rank " + std::to_string(rank) + " is already claimed by " +
                                 Describe(rank));
  }
  if (worker.lost) {
    return Status::AlreadyExists("rank " + std::to_string(rank) + " was lost (" + Describe(rank) +
                                 ") and is not claimed again");
  }
  worker.connected = true;
  worker.connection = connection;
  worker.host = hello.host();
  worker.pid = hello.pid();
  worker.device = hello.device();
  worker.last_seen = Clock::now();
  rank_of_connection_[connection] = rank;
  ++connected_;
  return Status::Ok();
}

std::optional<uint32_t> WorkerRoster::RankOf(ConnectionId connection) const {
  auto found = rank_of_connection_.find(connection);
  if (found == rank_of_connection_.end()) return std::nullopt;
  return found->second;
}

void WorkerRoster::OnDisconnected(uint32_t rank) {
  WorkerInfo& worker = workers_.at(rank);
  worker.connected = false;
  worker.finished = true;
}

void WorkerRoster::MarkLost(uint32_t rank) {
  WorkerInfo& worker = workers_.at(rank);
  if (worker.lost) return;
  worker.lost = true;
  worker.finished = true;
  ++lost_;
}

std::string WorkerRoster::Describe(uint32_t rank) const {
  const WorkerInfo& worker = workers_.at(rank);
  std::string text = "worker rank " + std::to_string(rank);
  if (worker.host.empty()) return text;
  return text + " (host " + worker.host + ", pid " + std::to_string(worker.pid) + ")";
}

Status WorkerRoster::NotAllConnected(std::chrono::seconds waited) const {
  std::string missing;
  for (uint32_t rank = 0; rank < size(); ++rank) {
    if (!workers_[rank].connected) missing += (missing.empty() ? "" : ", ") + std::to_string(rank);
  }
  return Status::Error("only " + std::to_string(connected_) + " of " + std::to_string(size()) +
                       " workers connected within " + std::to_string(waited.count()) +
                       " s (missing ranks " + missing + ")");
}

std::optional<uint32_t> WorkerRoster::FindSilent(std::chrono::seconds limit) const {
  auto now = Clock::now();
  for (uint32_t rank = 0; rank < size(); ++rank) {
    const WorkerInfo& worker = workers_[rank];
    if (worker.connected && !worker.finished && now - worker.last_seen > limit) return rank;
  }
  return std::nullopt;
}

boost::json::array WorkerRoster::Listing() const {
  boost::json::array listing;
  for (uint32_t rank = 0; rank < size(); ++rank) {
    const WorkerInfo& worker = workers_[rank];
    listing.push_back(boost::json::object{
        {"rank", rank}, {"host", worker.host}, {"pid", worker.pid}, {"device", worker.device}});
  }
  return listing;
}

Status WorkerRoster::Release(std::chrono::seconds timeout,
                             const std::function<void(const std::string&)>& on_notice) {
  proto::CoordinatorMessage shutdown;
  shutdown.mutable_shutdown()->set_abort(false);
  size_t waiting = 0;
  for (WorkerInfo& worker : workers_) {
    if (!worker.connected) continue;
    AIMASS_RETURN_IF_ERROR(hub_.Send(worker.connection, shutdown));
    ++waiting;
  }
  auto deadline = Clock::now() + timeout;
  while (waiting > 0) {
    if (Clock::now() > deadline) {
      return Status::Error(std::to_string(waiting) + " of " + std::to_string(size()) +
                           " workers did not disconnect after the job finished");
    }
    auto event = hub_.NextEvent(std::chrono::milliseconds(250));
    if (event && event->kind == HubEvent::Kind::kNotice) on_notice(event->reason);
    if (!event || event->kind != HubEvent::Kind::kDisconnected) continue;
    auto rank = RankOf(event->connection);
    if (rank && workers_[*rank].connected) {
      workers_[*rank].connected = false;
      --waiting;
    }
  }
  return Status::Ok();
}

void WorkerRoster::Abort(const std::string& reason) {
  for (uint32_t rank = 0; rank < size(); ++rank) Abort(rank, reason);
}

void WorkerRoster::Abort(uint32_t rank, const std::string& reason) {
  const WorkerInfo& worker = workers_.at(rank);
  if (!worker.connected) return;
  proto::CoordinatorMessage shutdown;
  shutdown.mutable_shutdown()->set_abort(true);
  shutdown.mutable_shutdown()->set_reason(reason);
  (void)hub_.Send(worker.connection, shutdown);
}

}  // namespace aimass::coordinator
