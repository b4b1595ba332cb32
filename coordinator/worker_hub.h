// WorkerHub: the coordinator's end of the control plane. It accepts worker connections on a TCP
// port and turns everything that happens on them into one queue of events, so the job logic
// (train_job.h) is a plain sequential loop that does not know about sockets, threads or how the
// workers were started.
//
// Thread safety: all socket work happens on the hub's own I/O thread. NextEvent is for one
// consumer thread; Send may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"

namespace aimass::proto {
class CoordinatorMessage;
class WorkerMessage;
}  // namespace aimass::proto

namespace aimass::coordinator {

using ConnectionId = uint64_t;

struct HubEvent {
  enum class Kind { kMessage, kDisconnected };
  Kind kind = Kind::kMessage;
  ConnectionId connection = 0;
  std::shared_ptr<proto::WorkerMessage> message;  // kMessage
  std::string reason;                             // kDisconnected: why, for the error line
};

class WorkerHub {
 public:
  // Listens on `bind_address` ("0.0.0.0" for every interface) and `port` (0: a free one).
  // A malformed address is InvalidArgument; a port that cannot be bound (in use) Unavailable.
  static Result<std::unique_ptr<WorkerHub>> Start(const std::string& bind_address, uint16_t port);
  ~WorkerHub();  // closes every connection and joins the I/O thread
  WorkerHub(const WorkerHub&) = delete;
  WorkerHub& operator=(const WorkerHub&) = delete;

  uint16_t port() const;

  // What workers are told to connect to: "host[,host...]:port", this host's name first and the
  // loopback address as the fallback for single-machine runs.
  std::string AdvertisedAddress() const;

  // The next event, or std::nullopt when none came within `timeout`.
  std::optional<HubEvent> NextEvent(std::chrono::milliseconds timeout);

  // Queues `message` for `connection`. Errors only when the message cannot be encoded; a failed
  // write shows up later as a kDisconnected event.
  Status Send(ConnectionId connection, const proto::CoordinatorMessage& message);

  // Closes `connection` once the messages queued for it are written (a refused worker reads
  // why). No kDisconnected event follows; events it already queued still come.
  void Close(ConnectionId connection);

 private:
  class Impl;
  explicit WorkerHub(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::coordinator
