#include "worker/control_client.h"

#include <boost/asio/connect.hpp>

#include "common/aimass.pb.h"
#include "common/net/handshake.h"
#include "common/net/message_codec.h"

namespace aimass::worker {

namespace asio = boost::asio;
using asio::ip::tcp;

Result<std::unique_ptr<ControlClient>> ControlClient::Connect(const std::string& address,
                                                              std::chrono::seconds timeout,
                                                              LostHandler on_lost) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("coordinator address '" + address + "' is not host:port");
  }
  std::string port = address.substr(colon + 1);
  std::vector<std::string> hosts;
  for (size_t start = 0; start < colon;) {
    size_t comma = address.find(',', start);
    if (comma == std::string::npos || comma > colon) comma = colon;
    hosts.push_back(address.substr(start, comma - start));
    start = comma + 1;
  }

  auto io = std::make_unique<asio::io_context>();
  auto socket = std::make_unique<tcp::socket>(*io);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_error = "no host to try";
  // The coordinator listens before it tells anyone its address, so retries only cover slow
  // networks and name resolution, not a race.
  while (std::chrono::steady_clock::now() < deadline) {
    for (const std::string& host : hosts) {
      boost::system::error_code error;
      tcp::resolver resolver(*io);
      auto endpoints = resolver.resolve(host, port, error);
      if (!error) asio::connect(*socket, endpoints, error);
      if (!error) {
        socket->set_option(tcp::no_delay(true));
        return std::unique_ptr<ControlClient>(
            new ControlClient(std::move(io), std::move(socket), std::move(on_lost)));
      }
      last_error = host + ":" + port + ": " + error.message();
      socket = std::make_unique<tcp::socket>(*io);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Unavailable("cannot reach the coordinator at " + address + " (" + last_error +
                             ")");
}

ControlClient::ControlClient(std::unique_ptr<asio::io_context> io,
                             std::unique_ptr<tcp::socket> socket, LostHandler on_lost)
    : io_(std::move(io)), socket_(std::move(socket)), on_lost_(std::move(on_lost)) {
  reader_ = std::thread([this] { ReadLoop(); });
}

ControlClient::~ControlClient() {
  closing_ = true;
  stopping_ = true;
  boost::system::error_code ignored;
  socket_->shutdown(tcp::socket::shutdown_both, ignored);
  if (heartbeat_.joinable()) heartbeat_.join();
  if (reader_.joinable()) reader_.join();
  socket_->close(ignored);
}

Status ControlClient::Authenticate(proto::WorkerMessage hello, const std::string& secret,
                                   std::chrono::milliseconds timeout) {
  const std::string not_coordinator =
      "the peer at the coordinator's address is not an aimass coordinator: ";
  AIMASS_ASSIGN_OR_RETURN(auto challenge, Receive(timeout));
  if (!challenge->has_auth_challenge() ||
      challenge->auth_challenge().nonce().size() != net::kNonceBytes) {
    return Status::Unavailable(not_coordinator + "its first message is no challenge");
  }
  AIMASS_ASSIGN_OR_RETURN(std::string worker_nonce, net::RandomBytes(net::kNonceBytes));
  proto::Hello& body = *hello.mutable_hello();
  net::HandshakeTranscript transcript{body.job_id(), body.rank(),
                                      body.host(),   body.pid(),
                                      challenge->auth_challenge().nonce(), worker_nonce};
  body.set_nonce(worker_nonce);
  body.set_proof(net::WorkerProof(secret, transcript));
  {
    std::lock_guard<std::mutex> lock(handshake_mutex_);
    expected_coordinator_proof_ = net::CoordinatorProof(secret, transcript);
  }
  AIMASS_RETURN_IF_ERROR(Send(hello));

  AIMASS_ASSIGN_OR_RETURN(auto answer, Receive(timeout));
  if (answer->has_shutdown()) {
    std::string reason = answer->shutdown().reason();
    {
      // Left for Receive: a caller that reads on sees the refusal as it came.
      std::lock_guard<std::mutex> lock(queue_mutex_);
      queue_.push_front(std::move(answer));
    }
    return Status::Unavailable("the coordinator refused this worker: " + reason);
  }
  if (!answer->has_auth_accepted() || !coordinator_verified_) {
    return Status::Unavailable(not_coordinator +
                               "it did not prove that it holds this job's secret");
  }
  return Status::Ok();
}

Status ControlClient::Send(const proto::WorkerMessage& message) {
  std::lock_guard<std::mutex> lock(send_mutex_);
  return net::WriteMessage(*socket_, message);
}

Result<std::unique_ptr<proto::CoordinatorMessage>> ControlClient::Receive(
    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  bool ready = queue_changed_.wait_for(
      lock, timeout, [this] { return !queue_.empty() || !lost_reason_.empty(); });
  if (!queue_.empty()) {
    auto message = std::move(queue_.front());
    queue_.pop_front();
    return message;
  }
  if (!lost_reason_.empty()) {
    return Status::Unavailable("coordinator connection lost: " + lost_reason_);
  }
  (void)ready;
  return Status::DeadlineExceeded("no message from the coordinator in " +
                                  std::to_string(timeout.count()) + " ms");
}

bool ControlClient::lost() {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  return queue_.empty() && !lost_reason_.empty();
}

void ControlClient::ReadLoop() {
  while (true) {
    auto message = std::make_unique<proto::CoordinatorMessage>();
    uint32_t limit = coordinator_verified_ ? net::kMaxFrameBytes : net::kMaxUnauthenticatedFrameBytes;
    Status status = net::ReadMessage(*socket_, message.get(), limit);
    if (!status.ok()) {
      {
        std::lock_guard<std::mutex> lock(queue_mutex_);
        lost_reason_ = status.message();
      }
      queue_changed_.notify_all();
      if (!closing_ && on_lost_) on_lost_(status.message(), false);
      return;
    }
    if (message->has_auth_accepted()) {
      std::lock_guard<std::mutex> lock(handshake_mutex_);
      coordinator_verified_ = net::ProofsEqual(expected_coordinator_proof_,
                                               message->auth_accepted().proof());
    }
    if (message->has_shutdown()) {
      closing_ = true;
      if (message->shutdown().abort() && on_lost_) {
        // Before the handshake completed, an abort is this worker's refusal, which nobody has
        // told the user yet: `aborted` is false so the handler prints it.
        if (coordinator_verified_) {
          on_lost_("job aborted by the coordinator: " + message->shutdown().reason(), true);
        } else {
          on_lost_("the coordinator refused this worker: " + message->shutdown().reason(), false);
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      queue_.push_back(std::move(message));
    }
    queue_changed_.notify_all();
  }
}

void ControlClient::StartHeartbeat(std::chrono::milliseconds interval) {
  if (heartbeat_.joinable()) return;
  heartbeat_ = std::thread([this, interval] { HeartbeatLoop(interval); });
}

void ControlClient::HeartbeatLoop(std::chrono::milliseconds interval) {
  const auto tick = std::chrono::milliseconds(50);
  auto next = std::chrono::steady_clock::now() + interval;
  while (!stopping_) {
    std::this_thread::sleep_for(tick);
    if (std::chrono::steady_clock::now() < next) continue;
    next += interval;
    proto::WorkerMessage message;
    message.mutable_heartbeat()->set_step(progress_step_);
    if (!Send(message).ok()) return;  // the reader reports the lost connection
  }
}

}  // namespace aimass::worker
