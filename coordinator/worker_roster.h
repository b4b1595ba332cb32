// WorkerRoster: who the workers of a job are and how they stand, kept the same way for every
// kind of job (the JobDriver's, job_driver.h): ranks learnt from Hello messages, the
// connection of each rank, when each was last heard from, and the end-of-job handshake.
// Not thread-safe: the job's thread owns it.
#pragma once

#include <boost/json/array.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/worker_hub.h"

namespace aimass::proto {
class Hello;
}  // namespace aimass::proto

namespace aimass::coordinator {

struct WorkerInfo {
  bool connected = false;
  bool finished = false;  // done with the job, or lost: silence and a closed connection are expected
  bool lost = false;      // written off while the job went on: what it says now is ignored
  ConnectionId connection = 0;
  std::string host;
  uint32_t pid = 0;
  std::string device;
  std::chrono::steady_clock::time_point last_seen;
};

class WorkerRoster {
 public:
  WorkerRoster(WorkerHub& hub, uint32_t expected_workers);

  uint32_t size() const { return static_cast<uint32_t>(workers_.size()); }
  uint32_t connected() const { return connected_; }
  WorkerInfo& at(uint32_t rank) { return workers_.at(rank); }
  const WorkerInfo& at(uint32_t rank) const { return workers_.at(rank); }

  // Registers the rank a Hello claims; errors when it does not fit the job. A rank already
  // claimed, by a connected worker or one lost (written off) during the job, is AlreadyExists:
  // the claim is refused and the job goes on (a lost rank is never re-claimed: its successor
  // would be a stranger, and the job already planned without it).
  Status OnHello(ConnectionId connection, const proto::Hello& hello);
  std::optional<uint32_t> RankOf(ConnectionId connection) const;
  void Touch(uint32_t rank) { workers_.at(rank).last_seen = std::chrono::steady_clock::now(); }
  // The rank's connection closed: it is finished, whatever the job makes of that.
  void OnDisconnected(uint32_t rank);
  // The job goes on without `rank`.
  void MarkLost(uint32_t rank);
  // Workers not lost (finished ones included).
  uint32_t live() const { return size() - lost_; }

  // "worker rank 1 (host h, pid 42)" once it said hello, "worker rank 1" before.
  std::string Describe(uint32_t rank) const;
  // "only 1 of 2 workers connected within 120 s (missing ranks 1)"
  Status NotAllConnected(std::chrono::seconds waited) const;
  // The first connected, unfinished worker silent for longer than `limit`.
  std::optional<uint32_t> FindSilent(std::chrono::seconds limit) const;
  boost::json::array Listing() const;  // workers.json

  // Tells every connected worker the job is over and waits until each has closed its
  // connection, which it does only after reading the Shutdown. Without the wait, a coordinator
  // about to exit could close sockets with the Shutdown still unsent, and the workers would take
  // that for its death.
  // The hub's notices that arrive meanwhile (a turned-away connection) go to `on_notice`, so that
  // none is lost to the wait.
  Status Release(std::chrono::seconds timeout,
                 const std::function<void(const std::string&)>& on_notice);
  // Tells every connected worker (or one) to stop now, with `reason`. Best effort.
  void Abort(const std::string& reason);
  void Abort(uint32_t rank, const std::string& reason);

 private:
  WorkerHub& hub_;
  std::vector<WorkerInfo> workers_;
  std::map<ConnectionId, uint32_t> rank_of_connection_;
  uint32_t connected_ = 0;
  uint32_t lost_ = 0;
};

}  // namespace aimass::coordinator
