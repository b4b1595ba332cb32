// WorkerHub: the coordinator's end of the control plane. It accepts worker connections on a TCP
// port, authenticates each (common/net/handshake.h) and turns everything that happens on the
// authenticated ones into one queue of events, so the job logic (job_driver.h) is a plain
// sequential loop that does not know about sockets, threads or how the workers were started.
//
// Anyone who can reach the port can connect, so nothing an unauthenticated peer does reaches
// the job: a connection that closes, stays silent past the handshake timeout, sends a frame over
// kMaxUnauthenticatedFrameBytes, a malformed frame, another job's Hello or a wrong proof is
// closed and reported once as a kNotice event (a line for the log), never as a disconnect.
// Unauthenticated connections are capped, and so are connections in all; an accept error
// (EMFILE, ENFILE, ENOBUFS) is retried with a backoff instead of ending the accept loop.
// The listening and accepted sockets are close-on-exec: a launched mpirun does not inherit them.
//
// Thread safety: all socket work happens on the hub's own I/O thread. NextEvent is for one
// consumer thread; Send and Close may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::proto {
class CoordinatorMessage;
class WorkerMessage;
}  // namespace aimass::proto

namespace aimass::coordinator {

using ConnectionId = uint64_t;

struct HubEvent {
  // kMessage and kDisconnected come only from authenticated connections; the first kMessage of
  // each is its Hello. kNotice is one line about something the hub turned away or hit (an
  // unauthenticated connection closed, an accept error): the job has nothing to do but log it.
  enum class Kind { kMessage, kDisconnected, kNotice };
  Kind kind = Kind::kMessage;
  ConnectionId connection = 0;
  std::shared_ptr<proto::WorkerMessage> message;  // kMessage
  std::string reason;                             // kDisconnected: why; kNotice: the line
};

struct HubOptions {
  std::string bind_address = "127.0.0.1";  // "0.0.0.0": every interface
  uint16_t port = 0;                       // 0: a free one
  // What workers are told to connect to, tried in order; empty: derived from bind_address
  // (loopback: 127.0.0.1; every interface: this host's name, then 127.0.0.1; else the address).
  std::vector<std::string> advertised_hosts;
  std::string job_id;  // a Hello for another job is refused (a stale worker, a wrong port)
  std::string secret;  // the job secret (handshake.h); must not be empty
  // A connection that has not authenticated within this is closed. Injectable for tests.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  // Caps: connections that have not authenticated yet, and connections in all. A connection
  // over a cap is closed at once. The first bounds what anonymous peers can hold (memory, file
  // descriptors, handshake timers); the second is a backstop for the whole hub.
  size_t max_unauthenticated = 64;
  size_t max_connections = 1024;
};

class WorkerHub {
 public:
  // Listens as `options` say. A malformed address or an empty secret is InvalidArgument; an
  // address that cannot be bound (in use, not this host's) Unavailable.
  static Result<std::unique_ptr<WorkerHub>> Start(HubOptions options);
  ~WorkerHub();  // closes every connection and joins the I/O thread
  WorkerHub(const WorkerHub&) = delete;
  WorkerHub& operator=(const WorkerHub&) = delete;

  uint16_t port() const;
  // The address it listens on, e.g. "127.0.0.1:40313".
  std::string ListeningAddress() const;

  // What workers are told to connect to: "host[,host...]:port".
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
