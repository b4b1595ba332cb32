#include "coordinator/worker_hub.h"

#include <unistd.h>

#include <boost/asio.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/aimass.pb.h"
#include "common/net/frame.h"

namespace aimass::coordinator {

namespace asio = boost::asio;
using asio::ip::tcp;

// One worker connection. Lives on the I/O thread; owned by Impl::connections_.
struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  unsigned char header[net::kFrameHeaderBytes] = {};
  std::string body;
  std::deque<std::string> outbox;  // frames not yet written; front is being written
  bool closed = false;
  bool close_when_sent = false;  // WorkerHub::Close: end quietly once the outbox is empty
};

class WorkerHub::Impl {
 public:
  Impl() : acceptor_(io_) {}

  Status Listen(const std::string& bind_address, uint16_t port) {
    boost::system::error_code error;
    auto address = asio::ip::make_address(bind_address, error);
    if (error) {
      return Status::InvalidArgument("bad bind address '" + bind_address + "': " +
                                     error.message());
    }
    tcp::endpoint endpoint(address, port);
    acceptor_.open(endpoint.protocol(), error);
    if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (error) {
      return Status::Unavailable("cannot listen on " + bind_address + ":" +
                                 std::to_string(port) + ": " + error.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  ~Impl() {
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& entry : connections_) entry.second->socket.close(ignored);
    });
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  uint16_t port() const { return port_; }

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
      if (found == connections_.end() || found->second->closed) return;
      Connection& connection = *found->second;
      connection.outbox.push_back(std::move(frame));
      if (connection.outbox.size() == 1) WriteNext(id);
    });
  }

  void Close(ConnectionId id) {
    asio::post(io_, [this, id] {
      auto found = connections_.find(id);
      if (found == connections_.end() || found->second->closed) return;
      Connection& connection = *found->second;
      connection.close_when_sent = true;
      if (connection.outbox.empty()) CloseQuietly(connection);
    });
  }

 private:
  static void CloseQuietly(Connection& connection) {
    connection.closed = true;  // so that the failing reads report nothing
    boost::system::error_code ignored;
    connection.socket.close(ignored);
  }

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code error, tcp::socket socket) {
      if (error) return;  // acceptor closed
      socket.set_option(tcp::no_delay(true), error);
      ConnectionId id = next_id_++;
      connections_.emplace(id, std::make_unique<Connection>(std::move(socket)));
      ReadHeader(id);
      Accept();
    });
  }

  void ReadHeader(ConnectionId id) {
    Connection& connection = *connections_.at(id);
    asio::async_read(connection.socket, asio::buffer(connection.header),
                     [this, id](boost::system::error_code error, size_t) {
                       if (error) return Drop(id, ReasonOf(error));
                       Connection& c = *connections_.at(id);
                       auto size = net::DecodeFrameHeader(c.header);
                       if (!size.ok()) return Drop(id, size.status().message());
                       c.body.resize(*size);
                       ReadBody(id);
                     });
  }

  void ReadBody(ConnectionId id) {
    Connection& connection = *connections_.at(id);
    asio::async_read(connection.socket, asio::buffer(connection.body),
                     [this, id](boost::system::error_code error, size_t) {
                       if (error) return Drop(id, ReasonOf(error));
                       auto message = std::make_shared<proto::WorkerMessage>();
                       Status parsed = net::DecodeFrameBody(connections_.at(id)->body, message.get());
                       if (!parsed.ok()) return Drop(id, parsed.message());
                       Push({HubEvent::Kind::kMessage, id, std::move(message), {}});
                       ReadHeader(id);
                     });
  }

  void WriteNext(ConnectionId id) {
    Connection& connection = *connections_.at(id);
    asio::async_write(connection.socket, asio::buffer(connection.outbox.front()),
                      [this, id](boost::system::error_code error, size_t) {
                        if (error) return Drop(id, "send failed: " + error.message());
                        Connection& c = *connections_.at(id);
                        c.outbox.pop_front();
                        if (!c.outbox.empty()) {
                          WriteNext(id);
                        } else if (c.close_when_sent) {
                          CloseQuietly(c);
                        }
                      });
  }

  static std::string ReasonOf(const boost::system::error_code& error) {
    if (error == asio::error::eof) return "connection closed";
    return "connection lost: " + error.message();
  }

  // Reports a connection's end once; the Connection stays (closed) so late handlers find it.
  void Drop(ConnectionId id, std::string reason) {
    Connection& connection = *connections_.at(id);
    if (connection.closed) return;
    if (connection.close_when_sent) return CloseQuietly(connection);
    connection.closed = true;
    boost::system::error_code ignored;
    connection.socket.close(ignored);
    Push({HubEvent::Kind::kDisconnected, id, nullptr, std::move(reason)});
  }

  void Push(HubEvent event) {
    {
      std::lock_guard<std::mutex> lock(events_mutex_);
      events_.push_back(std::move(event));
    }
    events_changed_.notify_one();
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  uint16_t port_ = 0;
  ConnectionId next_id_ = 1;                                         // I/O thread only
  std::map<ConnectionId, std::unique_ptr<Connection>> connections_;  // I/O thread only

  std::mutex events_mutex_;
  std::condition_variable events_changed_;
  std::deque<HubEvent> events_;  // GUARDED_BY(events_mutex_)
};

WorkerHub::WorkerHub(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerHub::~WorkerHub() = default;

Result<std::unique_ptr<WorkerHub>> WorkerHub::Start(const std::string& bind_address,
                                                    uint16_t port) {
  auto impl = std::make_unique<Impl>();
  AIMASS_RETURN_IF_ERROR(impl->Listen(bind_address, port));
  return std::unique_ptr<WorkerHub>(new WorkerHub(std::move(impl)));
}

uint16_t WorkerHub::port() const { return impl_->port(); }

std::string WorkerHub::AdvertisedAddress() const {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return std::string(host) + ",127.0.0.1:" + std::to_string(port());
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
