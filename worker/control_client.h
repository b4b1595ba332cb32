// The worker's end of the control plane: one TCP connection to the coordinator.
// A reader thread receives CoordinatorMessages into a queue; a heartbeat thread reports the
// worker's step every interval so that the coordinator can tell a hung worker from a slow one.
//
// Authenticate runs the handshake (common/net/handshake.h) right after Connect: the worker
// proves it holds the job secret and checks the coordinator's proof, so it trusts a start
// message (config, data paths) only from its own job's coordinator. Until the coordinator has
// proved itself, a frame may be at most kMaxUnauthenticatedFrameBytes.
//
// When the connection drops, or the coordinator orders an abort, `on_lost` runs on the reader
// thread. The worker's default ends the process at once: its peers may be blocked in a
// collective with it, and only a dead process unblocks mpirun's teardown.
// Thread safety: Send and the Receive family may be called from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace aimass::proto {
class CoordinatorMessage;
class WorkerMessage;
}  // namespace aimass::proto

namespace aimass::worker {

class ControlClient {
 public:
  // `aborted`: the coordinator ordered it (and has already told the user why).
  using LostHandler = std::function<void(const std::string& reason, bool aborted)>;

  // `address` is "host[,host...]:port"; each host is tried in turn until one accepts, for up to
  // `timeout` in all. A malformed address is InvalidArgument, no host accepting Unavailable.
  static Result<std::unique_ptr<ControlClient>> Connect(const std::string& address,
                                                        std::chrono::seconds timeout,
                                                        LostHandler on_lost);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // The handshake: waits for the coordinator's challenge, sends `hello` (a Hello; its job id,
  // rank, host and pid are what the proofs cover) with this worker's nonce and proof, and checks
  // the coordinator's answer. Ok once both sides proved they hold `secret`. A refusal is an
  // error that starts with "the coordinator refused this worker" and gives its reason; the
  // refusing Shutdown stays queued for Receive. A peer that is not an aimass coordinator, or
  // not this job's, is an error too. `timeout` bounds each wait.
  Status Authenticate(proto::WorkerMessage hello, const std::string& secret,
                      std::chrono::milliseconds timeout);

  Status Send(const proto::WorkerMessage& message);

  // The next message, waiting up to `timeout`. Errors with DeadlineExceeded on time-out and
  // Unavailable once the connection is lost.
  Result<std::unique_ptr<proto::CoordinatorMessage>> Receive(std::chrono::milliseconds timeout);

  // True once the connection is gone: Receive will never return a message again.
  bool lost();

  void StartHeartbeat(std::chrono::milliseconds interval);
  void SetProgress(uint64_t step) { progress_step_ = step; }

  // After this, a closing connection is expected and does not call `on_lost`.
  void ExpectClose() { closing_ = true; }

 private:
  ControlClient(std::unique_ptr<boost::asio::io_context> io,
                std::unique_ptr<boost::asio::ip::tcp::socket> socket, LostHandler on_lost);
  void ReadLoop();
  void HeartbeatLoop(std::chrono::milliseconds interval);

  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::asio::ip::tcp::socket> socket_;
  LostHandler on_lost_;

  std::mutex send_mutex_;  // serializes writes on socket_

  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::deque<std::unique_ptr<proto::CoordinatorMessage>> queue_;  // GUARDED_BY(queue_mutex_)
  std::string lost_reason_;                                        // GUARDED_BY(queue_mutex_)

  // The coordinator's proof the handshake expects; the reader lifts the frame limit once it
  // arrived (set before the Hello goes out, so before the answer can arrive).
  std::mutex handshake_mutex_;
  std::string expected_coordinator_proof_;  // GUARDED_BY(handshake_mutex_)
  std::atomic<bool> coordinator_verified_{false};

  std::atomic<uint64_t> progress_step_{0};
  std::atomic<bool> closing_{false};
  std::atomic<bool> stopping_{false};
  std::thread reader_;
  std::thread heartbeat_;
};

}  // namespace aimass::worker
