#include "tests/integration/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>

namespace aimass::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

// Connects, writes `request_bytes`, reads one response: all asynchronously so that the whole
// exchange is bounded by io.run_for.
HttpReply Exchange(uint16_t port, std::shared_ptr<std::string> request_bytes, std::chrono::seconds limit) {
  net::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 << 20);
  HttpReply reply;
  bool done = false;
  net::ip::tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
  auto read = [&] {
    http::async_read(stream, buffer, parser, [&](beast::error_code error, size_t) {
      done = true;
      if (error) {
        reply.error = "read: " + error.message();
        return;
      }
      reply.status = static_cast<int>(parser.get().result_int());
      reply.body = parser.get().body();
      auto type = parser.get().find(http::field::content_type);
      if (type != parser.get().end()) reply.content_type = std::string(type->value());
    });
  };
  stream.async_connect(endpoint, [&](beast::error_code error) {
    if (error) {
      done = true;
      reply.error = "connect: " + error.message();
      return;
    }
    net::async_write(stream, net::buffer(*request_bytes), [&](beast::error_code, size_t) {
      read();  // also after a failed write: the server may have answered (413) and closed
    });
  });
  io.run_for(limit);
  if (!done) reply.error = "no response within " + std::to_string(limit.count()) + " s";
  return reply;
}

}  // namespace

HttpReply HttpCall(uint16_t port, const std::string& method, const std::string& target,
                   const std::string& body, const std::string& token, std::chrono::seconds limit) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  request.set(http::field::connection, "close");
  if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
  if (!body.empty() || method == "POST" || method == "PUT") {
    request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
  }
  std::ostringstream text;
  text << request;
  return Exchange(port, std::make_shared<std::string>(text.str()), limit);
}

HttpReply HttpRaw(uint16_t port, const std::string& bytes, std::chrono::seconds limit) {
  return Exchange(port, std::make_shared<std::string>(bytes), limit);
}

}  // namespace aimass::testing
