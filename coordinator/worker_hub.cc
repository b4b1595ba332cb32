#include "coordinator/worker_hub.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/aimass.pb.h"
#include "common/env.h"
#include "common/log.h"
#include "common/net/frame.h"
#include "common/net/handshake.h"

namespace aimass::coordinator {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// Lines about turned-away connections: a flood of them must not flood the log. The first ones
// are logged, one line says that further ones are not, and the rest are only counted.
constexpr size_t kMaxNoticesLogged = 20;

// Accept errors (EMFILE, ENFILE, ENOBUFS) are retried after this, doubling up to the maximum:
// the pending connection stays in the kernel's backlog, and descriptors usually free up soon.
constexpr auto kFirstAcceptRetry = std::chrono::milliseconds(10);
constexpr auto kMaxAcceptRetry = std::chrono::seconds(1);

}  // namespace

// One connection. Lives on the I/O thread; shared by Impl::connections_ (until it is closed)
// and the pending handlers, so a late handler finds it closed rather than gone.
struct Connection {
  Connection(ConnectionId id_, tcp::socket s, std::string peer_)
      : id(id_), socket(std::move(s)), handshake_timer(socket.get_executor()), peer(std::move(peer_)) {}
  ConnectionId id;
  tcp::socket socket;
  asio::steady_timer handshake_timer;
  std::string peer;               // "address:port", for log lines
  std::string coordinator_nonce;  // this connection's challenge
  bool authenticated = false;
  unsigned char header[net::kFrameHeaderBytes] = {};
  std::string body;
  std::deque<std::string> outbox;  // frames not yet written; front is being written
  bool closed = false;
  bool close_when_sent = false;  // end quietly once the outbox is empty
};
using ConnectionPtr = std::shared_ptr<Connection>;

class WorkerHub::Impl {
 public:
  explicit Impl(HubOptions options)
      : options_(std::move(options)), acceptor_(io_), accept_timer_(io_) {}

  Status Listen() {
    if (options_.secret.empty()) return Status::InvalidArgument("the hub needs a job secret");
    boost::system::error_code error;
    auto address = asio::ip::make_address(options_.bind_address, error);
    if (error) {
      return Status::InvalidArgument("bad bind address '" + options_.bind_address + "': " +
                                     error.message());
    }
    tcp::endpoint endpoint(address, options_.port);
    // The socket is created close-on-exec in the same call (SOCK_CLOEXEC): a separate fcntl
    // would leave a window in which another thread's posix_spawn (a launcher of another job in
    // the same process) inherits it. An inherited listening socket keeps the port open in the
    // child mpirun and its daemons after this coordinator is gone.
    int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
      return Status::Unavailable("cannot create a socket: " + std::string(std::strerror(errno)));
    }
    acceptor_.assign(endpoint.protocol(), fd, error);
    if (error) ::close(fd);
    if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (!error) acceptor_.non_blocking(true, error);  // accept4 below must never block the loop
    if (error) {
      return Status::Unavailable("cannot listen on " + options_.bind_address + ":" +
                                 std::to_string(options_.port) + ": " + error.message());
    }
    listening_ = acceptor_.local_endpoint();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  ~Impl() {
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      accept_timer_.cancel();
      for (auto& entry : connections_) {
        entry.second->socket.close(ignored);
        entry.second->handshake_timer.cancel();
      }
    });
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  uint16_t port() const { return listening_.port(); }
  std::string ListeningAddress() const {
    return listening_.address().to_string() + ":" + std::to_string(listening_.port());
  }
  const HubOptions& options() const { return options_; }

  std::optional<HubEvent> NextEvent(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(events_mutex_);
    if (!events_changed_.wait_for(lock, timeout, [this] { return !events_.empty(); })) {
      return std::nullopt;
    }
    HubEvent event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

  void Send(ConnectionId id, std::string frame) {
    asio::post(io_, [this, id, frame = std::move(frame)]() mutable {
      auto found = connections_.find(id);
      if (found == connections_.end()) return;
      Queue(found->second, std::move(frame));
    });
  }

  void Close(ConnectionId id) {
    asio::post(io_, [this, id] {
      auto found = connections_.find(id);
      if (found == connections_.end()) return;
      CloseWhenSent(found->second);
    });
  }

 private:
  // ---------------------------------------------------------------- accepting

  // accept4 with SOCK_CLOEXEC rather than async_accept, which uses plain accept(): the
  // accepted socket must be close-on-exec from its first instant, like the listening one.
  void Accept() {
    acceptor_.async_wait(tcp::acceptor::wait_read, [this](boost::system::error_code error) {
      if (error == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (error) return RetryAcceptLater(error.message());
      sockaddr_storage address{};
      socklen_t address_size = sizeof(address);
      int fd = ::accept4(acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&address),
                         &address_size, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        int failure = errno;
        // Nothing pending after all, or a connection that died in the backlog: carry on.
        if (failure == EAGAIN || failure == EWOULDBLOCK || failure == EINTR ||
            failure == ECONNABORTED || failure == EPROTO || failure == EPERM) {
          return Accept();
        }
        return RetryAcceptLater(std::strerror(failure));
      }
      accept_retry_ = std::chrono::milliseconds(0);
      tcp::socket socket(io_);
      boost::system::error_code assigned;
      socket.assign(listening_.protocol(), fd, assigned);
      if (assigned) {
        ::close(fd);
      } else {
        OnAccepted(std::move(socket));
      }
      Accept();
    });
  }

  // Today's first accept error used to end accepting for good; a job then waited for workers
  // that could never connect. Now: one line, and retries with a growing pause.
  void RetryAcceptLater(const std::string& why) {
    if (accept_retry_.count() == 0) {
      Notice("aimass: cannot accept control-plane connections (" + why +
             "); retrying with a backoff of up to " +
             std::to_string(std::chrono::milliseconds(kMaxAcceptRetry).count()) + " ms");
      accept_retry_ = kFirstAcceptRetry;
    } else {
      accept_retry_ = std::min<std::chrono::milliseconds>(accept_retry_ * 2, kMaxAcceptRetry);
    }
    accept_timer_.expires_after(accept_retry_);
    accept_timer_.async_wait([this](boost::system::error_code error) {
      if (!error && acceptor_.is_open()) Accept();
    });
  }

  void OnAccepted(tcp::socket socket) {
    boost::system::error_code error;
    tcp::endpoint remote = socket.remote_endpoint(error);
    std::string peer = error ? "an unknown peer"
                             : remote.address().to_string() + ":" + std::to_string(remote.port());
    if (unauthenticated_ >= options_.max_unauthenticated ||
        connections_.size() >= options_.max_connections) {
      socket.close(error);
      Notice("aimass: closed a control-plane connection from " + peer + " at once: " +
             std::to_string(unauthenticated_) + " connections await authentication and " +
             std::to_string(connections_.size()) + " are open (caps " +
             std::to_string(options_.max_unauthenticated) + " and " +
             std::to_string(options_.max_connections) + ")");
      return;
    }
    socket.set_option(tcp::no_delay(true), error);
    auto nonce = net::RandomBytes(net::kNonceBytes);
    if (!nonce.ok()) {
      socket.close(error);
      Notice("aimass: closed a control-plane connection from " + peer + ": " +
             nonce.status().message());
      return;
    }
    auto connection = std::make_shared<Connection>(next_id_++, std::move(socket), std::move(peer));
    connection->coordinator_nonce = std::move(nonce).value();
    connections_.emplace(connection->id, connection);
    ++unauthenticated_;

    connection->handshake_timer.expires_after(options_.handshake_timeout);
    connection->handshake_timer.async_wait([this, connection](boost::system::error_code timer) {
      if (timer || connection->closed || connection->authenticated) return;
      if (connection->close_when_sent) return Remove(connection);  // refused, already logged
      Refuse(connection, "did not authenticate within " +
                             std::to_string(options_.handshake_timeout.count()) + " ms");
    });

    proto::CoordinatorMessage challenge;
    challenge.mutable_auth_challenge()->set_nonce(connection->coordinator_nonce);
    auto frame = net::EncodeFrame(challenge);
    if (frame.ok()) Queue(connection, std::move(frame).value());
    ReadHeader(connection);
  }

  // ---------------------------------------------------------------- reading

  void ReadHeader(const ConnectionPtr& connection) {
    asio::async_read(
        connection->socket, asio::buffer(connection->header),
        [this, connection](boost::system::error_code error, size_t) {
          if (connection->closed) return;
          if (error) return Lost(connection, ReasonOf(error));
          // Checked before anything is allocated: an anonymous peer gets 64 KiB at most.
          uint32_t limit = connection->authenticated ? net::kMaxFrameBytes
                                                     : net::kMaxUnauthenticatedFrameBytes;
          auto size = net::DecodeFrameHeader(connection->header, limit);
          if (!size.ok()) return Lost(connection, size.status().message());
          connection->body.resize(*size);
          ReadBody(connection);
        });
  }

  void ReadBody(const ConnectionPtr& connection) {
    asio::async_read(
        connection->socket, asio::buffer(connection->body),
        [this, connection](boost::system::error_code error, size_t) {
          if (connection->closed) return;
          if (error) return Lost(connection, ReasonOf(error));
          auto message = std::make_shared<proto::WorkerMessage>();
          Status parsed = net::DecodeFrameBody(connection->body, message.get());
          std::string().swap(connection->body);  // a large frame's buffer is not kept
          if (!parsed.ok()) return Lost(connection, parsed.message());
          if (!connection->authenticated) {
            if (!Authenticate(connection, *message)) return;
          }
          Push({HubEvent::Kind::kMessage, connection->id, std::move(message), {}});
          ReadHeader(connection);
        });
  }

  // True when `message` is a Hello for this job with a valid proof: the connection is then
  // authenticated and answered with the coordinator's proof. Otherwise the connection is refused.
  bool Authenticate(const ConnectionPtr& connection, const proto::WorkerMessage& message) {
    if (!message.has_hello()) {
      Refuse(connection, "sent a message before its Hello");
      return false;
    }
    const proto::Hello& hello = message.hello();
    // Until the proof checks, every field is the peer's word: escaped and capped in log lines.
    std::string claim = "rank " + std::to_string(hello.rank()) + ", host " + EscapeForLog(hello.host(), 128) +
                        ", pid " + std::to_string(hello.pid());
    if (hello.job_id() != options_.job_id) {
      // A stale worker of another job, or one that found the wrong port of a coordinator
      // running several jobs: its own error line says which coordinator it reached.
      std::string line = "aimass: refused a worker of job '" + EscapeForLog(hello.job_id(), 128) + "' (" + claim +
                         ") from " + connection->peer + ": this coordinator runs job '" +
                         options_.job_id + "'";
      Refuse(connection, "", line, line);
      return false;
    }
    net::HandshakeTranscript transcript{options_.job_id,        hello.rank(),  hello.host(),
                                        hello.pid(),            connection->coordinator_nonce,
                                        hello.nonce()};
    bool valid = hello.nonce().size() == net::kNonceBytes &&
                 net::ProofsEqual(net::WorkerProof(options_.secret, transcript), hello.proof());
    if (!valid) {
      Refuse(connection, "", "aimass: refused a connection from " + connection->peer +
                                 " claiming " + claim + ": wrong or missing job secret",
             "wrong or missing job secret (" + std::string(net::kJobSecretEnvironmentVariable) +
                 ")");
      return false;
    }
    connection->authenticated = true;
    --unauthenticated_;
    connection->handshake_timer.cancel();
    proto::CoordinatorMessage accepted;
    accepted.mutable_auth_accepted()->set_proof(net::CoordinatorProof(options_.secret, transcript));
    auto frame = net::EncodeFrame(accepted);
    if (frame.ok()) Queue(connection, std::move(frame).value());
    return true;
  }

  // ---------------------------------------------------------------- writing

  void Queue(const ConnectionPtr& connection, std::string frame) {
    if (connection->closed || connection->close_when_sent) return;
    connection->outbox.push_back(std::move(frame));
    if (connection->outbox.size() == 1) WriteNext(connection);
  }

  void WriteNext(const ConnectionPtr& connection) {
    asio::async_write(connection->socket, asio::buffer(connection->outbox.front()),
                      [this, connection](boost::system::error_code error, size_t) {
                        if (connection->closed) return;
                        if (error) return Lost(connection, "send failed: " + error.message());
                        connection->outbox.pop_front();
                        if (!connection->outbox.empty()) {
                          WriteNext(connection);
                        } else if (connection->close_when_sent) {
                          Remove(connection);
                        }
                      });
  }

  // ---------------------------------------------------------------- ending

  static std::string ReasonOf(const boost::system::error_code& error) {
    if (error == asio::error::eof) return "connection closed";
    return "connection lost: " + error.message();
  }

  // A read or write failed, or a frame was bad. An authenticated worker's end is the job's
  // business (kDisconnected); an anonymous one's is one line in the log.
  void Lost(const ConnectionPtr& connection, std::string reason) {
    if (connection->closed) return;
    if (connection->close_when_sent) return Remove(connection);
    if (!connection->authenticated) return Refuse(connection, reason);
    Remove(connection);
    Push({HubEvent::Kind::kDisconnected, connection->id, nullptr, std::move(reason)});
  }

  // Closes an unauthenticated connection with one line for the log. `why` completes the
  // default line; `line` replaces it. With a `tell_peer` reason the peer first reads a Shutdown
  // saying why (a genuine but misconfigured worker prints it); the handshake timer still bounds
  // how long that write may take.
  void Refuse(const ConnectionPtr& connection, const std::string& why, const std::string& line = "",
              const std::string& tell_peer = "") {
    if (connection->closed) return;
    Notice(!line.empty() ? line
                         : "aimass: closed an unauthenticated control-plane connection from " +
                               connection->peer + ": " + why);
    if (tell_peer.empty()) return Remove(connection);
    proto::CoordinatorMessage refusal;
    refusal.mutable_shutdown()->set_abort(true);
    refusal.mutable_shutdown()->set_reason(tell_peer);
    auto frame = net::EncodeFrame(refusal);
    if (!frame.ok()) return Remove(connection);
    Queue(connection, std::move(frame).value());
    CloseWhenSent(connection);
  }

  void CloseWhenSent(const ConnectionPtr& connection) {
    if (connection->closed) return;
    connection->close_when_sent = true;
    if (connection->outbox.empty()) Remove(connection);
  }

  // Closes the socket and forgets the connection: nothing it sends is read any more. Its
  // pending handlers hold it and find it closed.
  void Remove(const ConnectionPtr& connection) {
    if (connection->closed) return;
    connection->closed = true;
    boost::system::error_code ignored;
    connection->socket.close(ignored);
    connection->handshake_timer.cancel();
    if (!connection->authenticated) --unauthenticated_;
    connections_.erase(connection->id);
  }

  void Notice(std::string line) {
    ++notices_;
    if (notices_ > kMaxNoticesLogged + 1) return;
    if (notices_ == kMaxNoticesLogged + 1) {
      line = "aimass: further turned-away control-plane connections are not logged";
    }
    Push({HubEvent::Kind::kNotice, 0, nullptr, std::move(line)});
  }

  void Push(HubEvent event) {
    {
      std::lock_guard<std::mutex> lock(events_mutex_);
      events_.push_back(std::move(event));
    }
    events_changed_.notify_one();
  }

  const HubOptions options_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_timer_;
  std::thread thread_;
  tcp::endpoint listening_;
  // I/O thread only:
  std::chrono::milliseconds accept_retry_{0};  // 0: accepting works
  ConnectionId next_id_ = 1;
  std::map<ConnectionId, ConnectionPtr> connections_;  // open ones
  size_t unauthenticated_ = 0;
  size_t notices_ = 0;

  std::mutex events_mutex_;
  std::condition_variable events_changed_;
  std::deque<HubEvent> events_;  // GUARDED_BY(events_mutex_)
};

WorkerHub::WorkerHub(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerHub::~WorkerHub() = default;

Result<std::unique_ptr<WorkerHub>> WorkerHub::Start(HubOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  AIMASS_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<WorkerHub>(new WorkerHub(std::move(impl)));
}

uint16_t WorkerHub::port() const { return impl_->port(); }

std::string WorkerHub::ListeningAddress() const { return impl_->ListeningAddress(); }

std::string WorkerHub::AdvertisedAddress() const {
  const HubOptions& options = impl_->options();
  std::vector<std::string> hosts = options.advertised_hosts;
  if (hosts.empty()) {
    boost::system::error_code error;
    auto address = asio::ip::make_address(options.bind_address, error);
    if (!error && address.is_loopback()) {
      hosts = {"127.0.0.1"};
    } else if (!error && address.is_unspecified()) {
      hosts = {LocalHostName(), "127.0.0.1"};
    } else {
      hosts = {options.bind_address};
    }
  }
  std::string text;
  for (const std::string& host : hosts) text += (text.empty() ? "" : ",") + host;
  return text + ":" + std::to_string(port());
}

std::optional<HubEvent> WorkerHub::NextEvent(std::chrono::milliseconds timeout) {
  return impl_->NextEvent(timeout);
}

Status WorkerHub::Send(ConnectionId connection, const proto::CoordinatorMessage& message) {
  AIMASS_ASSIGN_OR_RETURN(std::string frame, net::EncodeFrame(message));
  impl_->Send(connection, std::move(frame));
  return Status::Ok();
}

void WorkerHub::Close(ConnectionId connection) { impl_->Close(connection); }

}  // namespace aimass::coordinator
