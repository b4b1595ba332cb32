#include "coordinator/service/http/http_server.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <list>
#include <optional>
#include <thread>
#include <unordered_map>

namespace aimass::service::http {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

std::string ErrorJson(const std::string& message, const std::string& code) {
  return boost::json::serialize(boost::json::object{{"error", message}, {"code", code}});
}

Response JsonError(unsigned status, const std::string& message, const std::string& code) {
  Response response;
  response.status = status;
  response.body = ErrorJson(message, code);
  return response;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> values;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(start, end - start);
    if (!pair.empty()) {
      size_t equals = pair.find('=');
      std::string key(pair.substr(0, equals));
      std::string value = equals == std::string_view::npos ? "" : std::string(pair.substr(equals + 1));
      values[DecodeQueryComponent(key)] = DecodeQueryComponent(value);
    }
    start = end + 1;
  }
  return values;
}

// A connection the table may close to make room for a new one: its Evict is called from the
// accept loop and closes it on its own strand if it is still waiting for a request head then.
class Evictable {
 public:
  virtual ~Evictable() = default;
  virtual void Evict() = 0;
};

// The open connections: how many there are, in all and per client address, and which of them
// are waiting for a request head (oldest first), the ones that may be closed to make room.
// Called from the accept loop and from every session's strand, hence the lock.
class ConnectionTable {
 public:
  ConnectionTable(size_t max_connections, size_t max_per_address)
      : max_connections_(std::max<size_t>(1, max_connections)),
        max_per_address_(std::max<size_t>(1, max_per_address)) {}

  struct Verdict {
    bool take = false;                  // false: refuse the connection
    bool evicted = false;               // a waiting connection is given up for it
    std::shared_ptr<Evictable> victim;  // to be closed (null: it is already going away)
  };

  // A connection from `client` was accepted. Over a cap, the oldest waiting connection (of
  // `client` itself for the per-address cap) makes room, untrusted ones first; with none, the
  // new one is refused. The slot is the new connection's until Release.
  Verdict Admit(const std::string& client) {
    std::lock_guard<std::mutex> lock(mutex_);
    Verdict verdict;
    auto counted = per_client_.find(client);
    const size_t mine = counted == per_client_.end() ? 0 : counted->second;
    if (mine >= max_per_address_) {
      if (!TakeOldest(&client, verdict)) return verdict;
    } else if (open_ >= max_connections_) {
      if (!TakeOldest(nullptr, verdict)) return verdict;
    }
    verdict.take = true;
    ++open_;
    ++per_client_[client];
    return verdict;
  }

  void Release(const std::string& client) {
    std::lock_guard<std::mutex> lock(mutex_);
    --open_;
    auto counted = per_client_.find(client);
    if (counted != per_client_.end() && --counted->second == 0) per_client_.erase(counted);
  }

  // The connection now waits for a request head; the ticket ends that (StopWaiting).
  uint64_t StartWaiting(const std::string& client, bool trusted, std::weak_ptr<Evictable> session) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t ticket = ++next_ticket_;
    auto& queue = trusted ? trusted_ : untrusted_;
    queue.push_back(Waiting{ticket, client, std::move(session)});
    index_[ticket] = {trusted, std::prev(queue.end())};
    return ticket;
  }

  // Idempotent: an entry already taken for an eviction is gone.
  void StopWaiting(uint64_t ticket) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = index_.find(ticket);
    if (found == index_.end()) return;
    (found->second.first ? trusted_ : untrusted_).erase(found->second.second);
    index_.erase(found);
  }

  size_t open() {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_;
  }

 private:
  struct Waiting {
    uint64_t ticket;
    std::string client;
    std::weak_ptr<Evictable> session;
  };

  // The oldest waiting connection (of `client` when given), untrusted before trusted; taken
  // out of the table. False when there is none.
  bool TakeOldest(const std::string* client, Verdict& verdict) {
    for (auto* queue : {&untrusted_, &trusted_}) {
      for (auto it = queue->begin(); it != queue->end(); ++it) {
        if (client != nullptr && it->client != *client) continue;
        verdict.evicted = true;
        verdict.victim = it->session.lock();
        index_.erase(it->ticket);
        queue->erase(it);
        return true;
      }
    }
    return false;
  }

  const size_t max_connections_;
  const size_t max_per_address_;
  std::mutex mutex_;
  size_t open_ = 0;                                       // GUARDED_BY(mutex_)
  std::unordered_map<std::string, size_t> per_client_;    // GUARDED_BY(mutex_)
  std::list<Waiting> untrusted_;                          // GUARDED_BY(mutex_), oldest first
  std::list<Waiting> trusted_;                            // GUARDED_BY(mutex_), oldest first
  std::unordered_map<uint64_t, std::pair<bool, std::list<Waiting>::iterator>> index_;
  uint64_t next_ticket_ = 0;                              // GUARDED_BY(mutex_)
};

// What every session shares: the handler, the limits and the table of open connections.
struct Shared {
  Shared(ServerOptions options_, Handler handler_)
      : options(std::move(options_)), handler(std::move(handler_)),
        table(options.max_connections, options.max_connections_per_address),
        cap_log(options.warning_interval), exhausted_log(options.warning_interval) {}

  void Warn(const std::string& line) const {
    if (options.warn) {
      options.warn(line);
    } else {
      std::fprintf(stderr, "aimass: warning: %s\n", line.c_str());
    }
  }

  const ServerOptions options;
  const Handler handler;
  ConnectionTable table;
  IntervalLog cap_log;        // connections given up or refused at a cap
  IntervalLog exhausted_log;  // accept failing (descriptors exhausted)
};

// One connection, plain (beast::tcp_stream) or TLS (ssl_stream over it). Its handlers run on
// the connection's strand, one at a time; the session lives as long as an operation holds it.
template <class Stream>
class Session : public Evictable, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(std::shared_ptr<Shared> shared, std::string client, Args&&... stream_args)
      : shared_(std::move(shared)), client_(std::move(client)), stream_(std::forward<Args>(stream_args)...),
        timer_(stream_.get_executor()) {
    boost::system::error_code ignored;
    auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ignored);
    remote_ = ignored ? "unknown" : endpoint.address().to_string();
  }
  ~Session() override {
    if (ticket_ != 0) shared_->table.StopWaiting(ticket_);
    shared_->table.Release(client_);
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  // From the accept loop: closed, on the strand, if it still waits for a request head.
  void Evict() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->waiting_) self->Close();
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  // The handshake and the first request head, both within head_timeout of the accept.
  void Begin() {
    StartWaiting();
    beast::get_lowest_layer(stream_).expires_after(shared_->options.head_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code error) {
                                if (error) return self->Close();
                                self->Read();
                              });
    } else {
      Read();
    }
  }

  void StartWaiting() {
    waiting_ = true;
    ticket_ = shared_->table.StartWaiting(client_, trusted_, this->weak_from_this());
  }

  void StopWaiting() {
    waiting_ = false;
    if (ticket_ != 0) shared_->table.StopWaiting(ticket_);
    ticket_ = 0;
  }

  // The next request head, under the deadline already set (head_timeout for a new connection,
  // keep_alive_timeout for a kept-alive one).
  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
    parser_->body_limit(shared_->options.max_body_bytes);
    // The header first: a client that sent `Expect: 100-continue` (curl does for larger
    // bodies) waits for a go-ahead before it sends the body, and a body over the cap is
    // refused from its Content-Length here, before it is read.
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code error, size_t) {
                               self->OnHeader(error);
                             });
  }

  // The request as its head tells it (no body).
  Request HeadRequest() const {
    const auto& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    std::string_view target(message.target().data(), message.target().size());
    size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request.query = ParseQuery(target.substr(question + 1));
    auto authorization = message.find(bhttp::field::authorization);
    if (authorization != message.end()) request.authorization = std::string(authorization->value());
    request.remote = remote_;
    request.client = client_;
    return request;
  }

  void OnHeader(beast::error_code error) {
    StopWaiting();
    if (error) return OnRead(error);
    std::chrono::milliseconds body_deadline = shared_->options.io_timeout;
    if (shared_->options.admit) {
      Admission admission;
      try {
        admission = shared_->options.admit(HeadRequest());
      } catch (const std::exception& thrown) {
        admission.refuse = JsonError(500, std::string("internal error: ") + thrown.what(), "internal");
      } catch (...) {
        admission.refuse = JsonError(500, "internal error", "internal");
      }
      if (admission.authenticated) trusted_ = true;
      if (admission.refuse) {
        // Refused on its head: a body, if any, is not read, so the connection cannot go on.
        keep_alive_ = parser_->is_done() && parser_->get().keep_alive();
        return Send(std::move(*admission.refuse));
      }
      // A request without a credential (a public route) gets no longer for its body than for
      // its head: only a client with a valid token may take io_timeout for it.
      if (!admission.authenticated) body_deadline = shared_->options.head_timeout;
    }
    auto expect = parser_->get().find(bhttp::field::expect);
    const bool wants_go_ahead = expect != parser_->get().end() &&
                                beast::iequals(expect->value(), "100-continue") &&
                                !parser_->is_done();
    auto read_body = [self = this->shared_from_this(), body_deadline] {
      beast::get_lowest_layer(self->stream_).expires_after(body_deadline);
      bhttp::async_read(self->stream_, self->buffer_, *self->parser_,
                        [self](beast::error_code read_error, size_t) { self->OnRead(read_error); });
    };
    if (!wants_go_ahead) return read_body();
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    beast::get_lowest_layer(stream_).expires_after(shared_->options.io_timeout);
    net::async_write(stream_, net::buffer(kContinue),
                     [self = this->shared_from_this(), read_body](beast::error_code write_error, size_t) {
                       if (write_error) return self->Close();
                       read_body();
                     });
  }

  void OnRead(beast::error_code error) {
    if (error == bhttp::error::body_limit) {
      return SendError(413, "payload_too_large",
                       "the request body is larger than " +
                           std::to_string(shared_->options.max_body_bytes) + " bytes");
    }
    if (error == bhttp::error::header_limit) {
      return SendError(431, "invalid_argument", "the request headers are too large");
    }
    // Beast's parse errors (bad method, bad chunk, ...) get an answer; a closed, reset or
    // timed-out connection has nobody to answer.
    if (error && error.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        error != bhttp::error::end_of_stream && error != bhttp::error::partial_message) {
      return SendError(400, "invalid_argument", "malformed HTTP request: " + error.message());
    }
    if (error) return Close();  // the client left, timed out or reset: nobody to answer

    Request request = HeadRequest();
    request.body = parser_->get().body();
    keep_alive_ = parser_->get().keep_alive();

    Response response;
    try {
      response = shared_->handler(request);
    } catch (const std::exception& thrown) {
      response = JsonError(500, std::string("internal error: ") + thrown.what(), "internal");
    } catch (...) {
      response = JsonError(500, "internal error", "internal");
    }
    if (response.deferred) return StartDeferred(std::move(response));
    if (response.stream) return StartStream(std::move(response));
    Send(std::move(response));
  }

  // The handler answers later, from any thread: its Respond posts onto this connection's
  // strand. The first of the answer and the deadline wins; the other does nothing.
  void StartDeferred(Response response) {
    auto answered = std::make_shared<bool>(false);  // touched only on the strand
    timer_.expires_after(shared_->options.io_timeout);
    timer_.async_wait([self = this->shared_from_this(), answered](beast::error_code error) {
      if (error || *answered) return;
      *answered = true;
      self->Send(JsonError(504, "no answer within the server's deadline", "deadline_exceeded"));
    });
    Respond respond = [self = this->shared_from_this(), answered](Response answer) {
      net::post(self->stream_.get_executor(), [self, answered, answer = std::move(answer)]() mutable {
        if (*answered) return;
        *answered = true;
        self->timer_.cancel();
        self->Send(std::move(answer));
      });
    };
    try {
      response.deferred(std::move(respond));
    } catch (const std::exception& thrown) {
      // Posted like an answer, so that it too loses to one already given.
      net::post(stream_.get_executor(), [self = this->shared_from_this(), answered, what = std::string(thrown.what())] {
        if (*answered) return;
        *answered = true;
        self->timer_.cancel();
        self->Send(JsonError(500, "internal error: " + what, "internal"));
      });
    }
  }

  void SendError(unsigned status, const std::string& code, const std::string& message) {
    keep_alive_ = false;  // the rest of what the client sent cannot be trusted to frame
    Send(JsonError(status, message, code));
  }

  void Send(Response response) {
    auto message = std::make_shared<bhttp::response<bhttp::string_body>>();
    message->version(11);
    message->result(response.status);
    message->set(bhttp::field::server, "aimass");
    message->set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) message->set(name, value);
    message->keep_alive(keep_alive_);
    message->body() = std::move(response.body);
    message->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(shared_->options.io_timeout);
    bhttp::async_write(stream_, *message,
                       [self = this->shared_from_this(), message](beast::error_code error, size_t) {
                         if (error || !self->keep_alive_) return self->Close();
                         self->StartWaiting();
                         beast::get_lowest_layer(self->stream_).expires_after(self->shared_->options.keep_alive_timeout);
                         self->Read();
                       });
  }

  // A chunked response: the header (and `body`), then whatever the source has at each poll.
  void StartStream(Response response) {
    stream_source_ = std::move(response.stream);
    stream_deadline_ = std::chrono::steady_clock::now() + shared_->options.max_stream;
    header_ = std::make_shared<bhttp::response<bhttp::empty_body>>();
    header_->version(11);
    header_->result(response.status);
    header_->set(bhttp::field::server, "aimass");
    header_->set(bhttp::field::content_type, response.content_type);
    header_->set(bhttp::field::cache_control, "no-store");
    for (auto& [name, value] : response.headers) header_->set(name, value);
    header_->chunked(true);
    header_->keep_alive(false);  // a stream ends the connection: simpler for every client
    serializer_.emplace(*header_);
    beast::get_lowest_layer(stream_).expires_after(shared_->options.io_timeout);
    pending_ = std::move(response.body);
    bhttp::async_write_header(stream_, *serializer_,
                              [self = this->shared_from_this()](beast::error_code error, size_t) {
                                if (error) return self->Close();
                                self->WriteChunk(std::move(self->pending_), false);
                              });
  }

  void WriteChunk(std::string data, bool last) {
    if (data.empty()) return last ? WriteLastChunk() : WaitAndPoll();
    chunk_ = std::move(data);
    beast::get_lowest_layer(stream_).expires_after(shared_->options.io_timeout);
    net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)),
                     [self = this->shared_from_this(), last](beast::error_code error, size_t) {
                       if (error) return self->Close();
                       if (last) return self->WriteLastChunk();
                       self->WaitAndPoll();
                     });
  }

  void WriteLastChunk() {
    beast::get_lowest_layer(stream_).expires_after(shared_->options.io_timeout);
    net::async_write(stream_, bhttp::make_chunk_last(),
                     [self = this->shared_from_this()](beast::error_code, size_t) { self->Close(); });
  }

  void WaitAndPoll() {
    timer_.expires_after(shared_->options.stream_poll);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code error) {
      if (error) return self->Close();
      StreamChunk next;
      try {
        next = self->stream_source_();
      } catch (...) {
        next.done = true;
      }
      bool last = next.done || std::chrono::steady_clock::now() >= self->stream_deadline_;
      self->WriteChunk(std::move(next.data), last);
    });
  }

  void Close() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  std::shared_ptr<Shared> shared_;
  const std::string client_;  // the key of the per-address cap (ClientKey)
  Stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string remote_;
  bool keep_alive_ = false;
  bool waiting_ = false;   // waiting for a request head: may be evicted
  uint64_t ticket_ = 0;    // its entry in the table while waiting
  bool trusted_ = false;   // a request on it was authenticated (Admission)
  std::function<StreamChunk()> stream_source_;
  std::chrono::steady_clock::time_point stream_deadline_;
  std::shared_ptr<bhttp::response<bhttp::empty_body>> header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer_;
  std::string pending_;
  std::string chunk_;
};

}  // namespace

std::string DecodeQueryComponent(const std::string& text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      decoded += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      decoded += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
}

bool IntervalLog::Due(std::chrono::steady_clock::time_point now, size_t* left_out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (last_ && now - *last_ < interval_) {
    ++left_out_;
    return false;
  }
  last_ = now;
  *left_out = left_out_;
  left_out_ = 0;
  return true;
}

std::string ClientKey(const std::string& address) {
  boost::system::error_code error;
  auto parsed = net::ip::make_address(address, error);
  if (error) return address;
  if (parsed.is_v6()) {
    auto v6 = parsed.to_v6();
    if (v6.is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, v6).to_string();
    auto bytes = v6.to_bytes();
    std::fill(bytes.begin() + 8, bytes.end(), 0);
    return net::ip::address_v6(bytes).to_string() + "/64";
  }
  return parsed.to_string();
}

namespace {

// Accept errors are retried after this, doubling up to the maximum: the loop never spins on a
// listening socket that stays readable while accept fails (EMFILE, ENFILE, ENOBUFS).
constexpr auto kFirstAcceptRetry = std::chrono::milliseconds(10);
constexpr auto kMaxAcceptRetry = std::chrono::milliseconds(1000);
// Pending connections closed at once per failed accept, with the reserve descriptor.
constexpr int kMaxShedPerRound = 128;

int OpenReserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

std::string DescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return "";
  return " (RLIMIT_NOFILE " + std::to_string(limit.rlim_cur) + ")";
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler handler)
      : shared_(std::make_shared<Shared>(std::move(options), std::move(handler))),
        acceptor_(io_), accept_timer_(io_) {}

  ~Impl() {
    if (reserve_ >= 0) ::close(reserve_);
  }

  Status Open() {
    const ServerOptions& options = shared_->options;
    if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
      if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
        return Status::InvalidArgument("--tls-cert and --tls-key go together");
      }
      tls_.emplace(ssl::context::tls_server);
      tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                        ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      boost::system::error_code error;
      tls_->use_certificate_chain_file(options.tls_cert_file, error);
      if (error) return Status::InvalidArgument("--tls-cert " + options.tls_cert_file + ": " + error.message());
      tls_->use_private_key_file(options.tls_key_file, ssl::context::pem, error);
      if (error) return Status::InvalidArgument("--tls-key " + options.tls_key_file + ": " + error.message());
    }
    boost::system::error_code error;
    auto address = net::ip::make_address(options.host, error);
    if (error) return Status::InvalidArgument("--listen: '" + options.host + "' is not an IP address");
    tcp::endpoint endpoint(address, options.port);
    // Close-on-exec in the same call (SOCK_CLOEXEC): Asio's own open() does not set it (Boost
    // 1.81 calls socket() and accept() without it), and a separate fcntl would leave a window
    // in which another thread's spawn inherits the socket. An inherited listening socket
    // keeps the API's port taken by mpirun, its workers or a serving replica after this
    // process is gone, and the next `serve` on that port cannot listen.
    const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) return Status::Unavailable("cannot create a socket: " + std::string(std::strerror(errno)));
    acceptor_.assign(endpoint.protocol(), fd, error);
    if (error) ::close(fd);
    if (!error) acceptor_.set_option(net::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(net::socket_base::max_listen_connections, error);
    if (!error) acceptor_.non_blocking(true, error);  // accept4 below must never block a thread
    if (error) {
      return Status::Unavailable("cannot listen on " + options.host + ":" +
                                 std::to_string(options.port) + ": " + error.message());
    }
    port_ = acceptor_.local_endpoint().port();
    protocol_ = endpoint.protocol();
    reserve_ = OpenReserve();
    Accept();
    const unsigned threads = std::max(1u, options.threads);
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
    return Status::Ok();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    net::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      accept_timer_.cancel();
    });
    io_.stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

  uint16_t port() const { return port_; }
  bool tls() const { return tls_.has_value(); }

 private:
  // accept4 with SOCK_CLOEXEC rather than async_accept, which calls plain accept(): an
  // accepted socket is close-on-exec from its first instant, like the listening one. The
  // accept handlers run one at a time (one wait or one timer is pending, never both).
  void Accept() {
    acceptor_.async_wait(tcp::acceptor::wait_read, [this](boost::system::error_code error) {
      if (error == net::error::operation_aborted || !acceptor_.is_open()) return;
      if (error) return AcceptLater(error.message());
      const int fd = AcceptOne();
      if (fd < 0) {
        const int failure = errno;
        // Nothing pending after all, or a connection that died in the backlog: carry on.
        if (failure == EAGAIN || failure == EWOULDBLOCK || failure == EINTR ||
            failure == ECONNABORTED || failure == EPROTO || failure == EPERM) {
          return Accept();
        }
        if (failure == EMFILE || failure == ENFILE) Shed();
        return AcceptLater(std::strerror(failure) + (failure == EMFILE ? DescriptorLimit() : ""));
      }
      accept_retry_ = std::chrono::milliseconds(0);
      if (reserve_ < 0) reserve_ = OpenReserve();  // given back after an exhaustion
      OnAccepted(fd);
      Accept();
    });
  }

  int AcceptOne() {
    return ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  }

  // Out of descriptors: the one kept in reserve makes room to accept the pending connections
  // and close them at once (libuv's way), so that their clients hear now that they are refused
  // instead of waiting in the backlog, and the reserve is taken again.
  void Shed() {
    if (reserve_ < 0) return;
    ::close(reserve_);
    reserve_ = -1;
    for (int i = 0; i < kMaxShedPerRound; ++i) {
      const int fd = AcceptOne();
      if (fd < 0) break;
      ::close(fd);
      ++shed_;
    }
    reserve_ = OpenReserve();
  }

  // Waits (10 ms doubling to 1 s) before accepting again; one warning per interval.
  void AcceptLater(const std::string& why) {
    accept_retry_ = accept_retry_.count() == 0
                        ? kFirstAcceptRetry
                        : std::min<std::chrono::milliseconds>(accept_retry_ * 2, kMaxAcceptRetry);
    size_t left_out = 0;
    if (shared_->exhausted_log.Due(std::chrono::steady_clock::now(), &left_out)) {
      std::string line = "cannot accept connections on port " + std::to_string(port_) + ": " + why +
                         "; retrying with a backoff of up to " +
                         std::to_string(kMaxAcceptRetry.count()) + " ms";
      if (shed_ > 0) line += "; " + std::to_string(shed_) + " pending connections closed at once so far";
      if (left_out > 0) line += " (" + std::to_string(left_out) + " more failures since the last warning)";
      shared_->Warn(line);
    }
    accept_timer_.expires_after(accept_retry_);
    accept_timer_.async_wait([this](boost::system::error_code error) {
      if (!error && acceptor_.is_open()) Accept();
    });
  }

  void OnAccepted(int fd) {
    tcp::socket socket(net::make_strand(io_));
    boost::system::error_code error;
    socket.assign(protocol_, fd, error);
    if (error) {
      ::close(fd);
      return;
    }
    auto remote = socket.remote_endpoint(error);
    const std::string client = error ? "unknown" : ClientKey(remote.address().to_string());
    ConnectionTable::Verdict verdict = shared_->table.Admit(client);
    if (verdict.victim) verdict.victim->Evict();
    if (!verdict.take || verdict.evicted) WarnAtCap(client, verdict.take);
    if (!verdict.take) {
      socket.close(error);
      return;
    }
    if (tls_) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(shared_, client, std::move(socket), *tls_)
          ->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(shared_, client, std::move(socket))->Start();
    }
  }

  void WarnAtCap(const std::string& client, bool taken) {
    if (taken) {
      ++evicted_;
    } else {
      ++refused_;
    }
    size_t left_out = 0;
    if (!shared_->cap_log.Due(std::chrono::steady_clock::now(), &left_out)) return;
    const ServerOptions& options = shared_->options;
    shared_->Warn("HTTP connections at a cap (" + std::to_string(options.max_connections) + " in all, " +
                  std::to_string(options.max_connections_per_address) + " per address; now " +
                  std::to_string(shared_->table.open()) + " open), the latest from " + client + ": " +
                  std::to_string(evicted_) + " connections that had not sent a request closed for newer ones, " +
                  std::to_string(refused_) + " new ones refused so far");
  }

  net::io_context io_;
  std::shared_ptr<Shared> shared_;
  tcp::acceptor acceptor_;
  net::steady_timer accept_timer_;
  tcp protocol_ = tcp::v4();
  std::optional<ssl::context> tls_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  // Touched only by the accept handlers, which run one at a time.
  int reserve_ = -1;  // a descriptor kept for Shed
  std::chrono::milliseconds accept_retry_{0};
  uint64_t shed_ = 0;
  uint64_t evicted_ = 0;
  uint64_t refused_ = 0;
};

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  AIMASS_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }
uint16_t Server::port() const { return impl_->port(); }
bool Server::tls() const { return impl_->tls(); }
void Server::Stop() {
  if (impl_) impl_->Stop();
}

}  // namespace aimass::service::http
