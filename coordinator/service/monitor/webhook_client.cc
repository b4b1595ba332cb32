#include "coordinator/service/monitor/webhook_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <cctype>
#include <openssl/ssl.h>
#include <optional>

namespace aimass::service {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Deadline = std::chrono::steady_clock::time_point;

namespace {

// An answer's body is read only to finish the exchange; a webhook that sends more is cut off.
constexpr uint64_t kMaxResponseBytes = 64 * 1024;

// Runs `io` until the operation `start` began has completed or `deadline` passed; on the
// deadline, `abort` cancels it (closes the socket) and the operation's handler is awaited.
template <class Start, class Abort>
Status Await(asio::io_context& io, Deadline deadline, const std::string& what, Start start, Abort abort) {
  bool done = false;
  beast::error_code error;
  start([&](beast::error_code code) {
    error = code;
    done = true;
  });
  io.restart();
  while (!done && std::chrono::steady_clock::now() < deadline) {
    io.run_one_until(deadline);
  }
  if (!done) {
    abort();
    io.restart();
    while (!done) io.run_one();
    return Status::DeadlineExceeded(what + ": timed out");
  }
  if (error) return Status::Unavailable(what + ": " + error.message());
  return Status::Ok();
}

template <class Stream>
Status Exchange(asio::io_context& io, Stream& stream, const WebhookUrl& url, const std::string& body,
                Deadline deadline, std::function<void()> abort) {
  http::request<http::string_body> request{http::verb::post, url.target, 11};
  request.set(http::field::host, url.host);
  request.set(http::field::user_agent, "aimass-alerts");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::connection, "close");
  request.body() = body;
  request.prepare_payload();
  AIMASS_RETURN_IF_ERROR(Await(io, deadline, "sending to " + url.shown, [&](auto handler) {
    http::async_write(stream, request, [handler](beast::error_code code, size_t) mutable { handler(code); });
  }, abort));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  AIMASS_RETURN_IF_ERROR(Await(io, deadline, "reading the answer of " + url.shown, [&](auto handler) {
    http::async_read(stream, buffer, parser, [handler](beast::error_code code, size_t) mutable { handler(code); });
  }, abort));
  const unsigned status = parser.get().result_int();
  if (status < 200 || status >= 300) {
    return Status::Unavailable(url.shown + " answered " + std::to_string(status));
  }
  return Status::Ok();
}

}  // namespace

Result<WebhookUrl> ParseWebhookUrl(const std::string& text) {
  auto invalid = [&](const std::string& why) {
    // The URL is not repeated: its path or query often carries the receiver's secret.
    return Status::InvalidArgument("--alert-webhook: " + why);
  };
  WebhookUrl url;
  std::string rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
    url.port = 80;
  } else if (text.rfind("https://", 0) == 0) {
    rest = text.substr(8);
    url.https = true;
    url.port = 443;
  } else {
    return invalid("use an http:// or https:// URL");
  }
  if (text.size() > 2048) return invalid("longer than 2048 characters");
  if (text.find('#') != std::string::npos) return invalid("a fragment (#) is not sent to a server");
  if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c <= ' ' || c >= 0x7f; })) {
    return invalid("spaces and control or non-ASCII characters must be percent-encoded");
  }
  const size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  url.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (url.target.front() == '?') url.target = "/" + url.target;
  if (authority.find('@') != std::string::npos) return invalid("user info (user@host) is not supported");
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return invalid("an unclosed [IPv6 address]");
    url.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("expected :PORT after the address");
      port = after.substr(1);
      if (port.empty()) return invalid("an empty port");
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return invalid("an empty port");
    }
  }
  if (url.host.empty()) return invalid("no host");
  // Only scheme, host and port are ever shown: the path and query may hold a token.
  url.shown = std::string(url.https ? "https://" : "http://") +
              (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host);
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) == 0 ||
        std::stoi(port) > 65535) {
      return invalid("the port must be 1 to 65535");
    }
    url.port = static_cast<uint16_t>(std::stoi(port));
    url.shown += ":" + port;
  }
  return url;
}

Status PostJson(const WebhookUrl& url, const std::string& json_body, std::chrono::milliseconds timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  asio::io_context io;
  tcp::resolver resolver(io);
  tcp::resolver::results_type endpoints;
  AIMASS_RETURN_IF_ERROR(Await(io, deadline, "resolving " + url.host, [&](auto handler) {
    resolver.async_resolve(url.host, std::to_string(url.port),
                           [&endpoints, handler](beast::error_code code, tcp::resolver::results_type found) mutable {
                             endpoints = std::move(found);
                             handler(code);
                           });
  }, [&] { resolver.cancel(); }));

  if (!url.https) {
    beast::tcp_stream stream(io);
    auto abort = [&] { stream.socket().close(); };
    AIMASS_RETURN_IF_ERROR(Await(io, deadline, "connecting to " + url.shown, [&](auto handler) {
      stream.async_connect(endpoints, [handler](beast::error_code code, const tcp::endpoint&) mutable { handler(code); });
    }, abort));
    return Exchange(io, stream, url, json_body, deadline, abort);
  }

  ssl::context context(ssl::context::tls_client);
  context.set_default_verify_paths();
  context.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    return Status::Unavailable(url.shown + ": cannot set the TLS server name");
  }
  stream.set_verify_callback(ssl::host_name_verification(url.host));
  auto abort = [&] { beast::get_lowest_layer(stream).socket().close(); };
  AIMASS_RETURN_IF_ERROR(Await(io, deadline, "connecting to " + url.shown, [&](auto handler) {
    beast::get_lowest_layer(stream).async_connect(
        endpoints, [handler](beast::error_code code, const tcp::endpoint&) mutable { handler(code); });
  }, abort));
  AIMASS_RETURN_IF_ERROR(Await(io, deadline, "the TLS handshake with " + url.shown, [&](auto handler) {
    stream.async_handshake(ssl::stream_base::client, [handler](beast::error_code code) mutable { handler(code); });
  }, abort));
  return Exchange(io, stream, url, json_body, deadline, abort);
}

}  // namespace aimass::service
