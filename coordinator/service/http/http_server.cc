#include "coordinator/service/http/http_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <exception>
#include <optional>
#include <thread>

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

// What every session shares: the handler, the limits and the count of open connections.
struct Shared {
  ServerOptions options;
  Handler handler;
  std::atomic<size_t> connections{0};
};

// One connection, plain (beast::tcp_stream) or TLS (ssl_stream over it). Its handlers run on
// the connection's strand, one at a time; the session lives as long as an operation holds it.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(std::shared_ptr<Shared> shared, Args&&... stream_args)
      : shared_(std::move(shared)), stream_(std::forward<Args>(stream_args)...),
        timer_(stream_.get_executor()) {
    boost::system::error_code ignored;
    auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ignored);
    remote_ = ignored ? "unknown" : endpoint.address().to_string();
  }
  ~Session() { --shared_->connections; }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  void Begin() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(shared_->options.io_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code error) {
                                if (error) return self->Close();
                                self->Read();
                              });
    } else {
      Read();
    }
  }

  void Read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
    parser_->body_limit(shared_->options.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(shared_->options.io_timeout);
    // The header first: a client that sent `Expect: 100-continue` (curl does for larger
    // bodies) waits for a go-ahead before it sends the body, and a body over the cap is
    // refused from its Content-Length here, before it is read.
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code error, size_t) {
                               self->OnHeader(error);
                             });
  }

  void OnHeader(beast::error_code error) {
    if (error) return OnRead(error);
    auto expect = parser_->get().find(bhttp::field::expect);
    const bool wants_go_ahead = expect != parser_->get().end() &&
                                beast::iequals(expect->value(), "100-continue") &&
                                !parser_->is_done();
    auto read_body = [self = this->shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(self->shared_->options.io_timeout);
      bhttp::async_read(self->stream_, self->buffer_, *self->parser_,
                        [self](beast::error_code read_error, size_t) { self->OnRead(read_error); });
    };
    if (!wants_go_ahead) return read_body();
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
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

    const auto& message = parser_->get();
    Request request;
    request.method = std::string(message.method_string());
    std::string_view target(message.target().data(), message.target().size());
    size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request.query = ParseQuery(target.substr(question + 1));
    request.body = message.body();
    auto authorization = message.find(bhttp::field::authorization);
    if (authorization != message.end()) request.authorization = std::string(authorization->value());
    request.remote = remote_;
    keep_alive_ = message.keep_alive();

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
  Stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string remote_;
  bool keep_alive_ = false;
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

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler handler)
      : shared_(std::make_shared<Shared>()), acceptor_(io_) {
    shared_->options = std::move(options);
    shared_->handler = std::move(handler);
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
    acceptor_.open(endpoint.protocol(), error);
    if (!error) acceptor_.set_option(net::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(endpoint, error);
    if (!error) acceptor_.listen(net::socket_base::max_listen_connections, error);
    if (error) {
      return Status::Unavailable("cannot listen on " + options.host + ":" +
                                 std::to_string(options.port) + ": " + error.message());
    }
    port_ = acceptor_.local_endpoint().port();
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
    });
    io_.stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

  uint16_t port() const { return port_; }
  bool tls() const { return tls_.has_value(); }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(io_), [this](boost::system::error_code error,
                                                         tcp::socket socket) {
      if (error == net::error::operation_aborted || !acceptor_.is_open()) return;
      if (!error) {
        if (++shared_->connections > shared_->options.max_connections) {
          --shared_->connections;
          boost::system::error_code ignored;
          socket.close(ignored);
        } else if (tls_) {
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(shared_, std::move(socket), *tls_)
              ->Start();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(shared_, std::move(socket))->Start();
        }
      }
      Accept();
    });
  }

  net::io_context io_;
  std::shared_ptr<Shared> shared_;
  tcp::acceptor acceptor_;
  std::optional<ssl::context> tls_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
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
