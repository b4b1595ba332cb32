// The service's HTTP server in one process, against a client that misbehaves on purpose: slow
// and silent clients are dropped at the deadline, connections over the cap are closed, a
// throwing handler is a 500, a streamed response arrives chunked, and TLS serves HTTPS only.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include "tests/catch.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "coordinator/service/http/http_server.h"
#include "tests/temp_dir.h"

namespace aimass::service::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// Writes `bytes` and reads until the server closes or `limit` passes: what the server sent.
std::string RawExchange(uint16_t port, const std::string& bytes, std::chrono::milliseconds limit,
                        bool* closed_by_server = nullptr) {
  net::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  net::write(socket, net::buffer(bytes));
  std::string received;
  std::array<char, 4096> chunk;
  bool closed = false;
  std::function<void()> read = [&] {
    socket.async_read_some(net::buffer(chunk), [&](boost::system::error_code error, size_t n) {
      received.append(chunk.data(), n);
      if (error) {
        closed = true;
        return;
      }
      read();
    });
  };
  read();
  io.run_for(limit);
  if (closed_by_server) *closed_by_server = closed;
  return received;
}

Response Text(const std::string& body) {
  Response response;
  response.content_type = "text/plain";
  response.body = body;
  return response;
}

}  // namespace

TEST_CASE("http server: answers, decodes queries, caps bodies and survives a throwing handler") {
  ServerOptions options;
  options.port = 0;
  options.max_body_bytes = 1000;
  auto server = Server::Start(options, [](const Request& request) -> Response {
    if (request.path == "/throw") throw std::runtime_error("boom");
    return Text(request.method + " " + request.path + " q=" + (request.query.count("q") ? request.query.at("q") : "") +
                " body=" + std::to_string(request.body.size()) + " remote=" + request.remote);
  });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();

  std::string reply = RawExchange(port, "GET /a/b?q=x%20y+z&other HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                                  std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 200 OK") == 0);
  CHECK(reply.find("GET /a/b q=x y z body=0 remote=127.0.0.1") != std::string::npos);

  reply = RawExchange(port, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n", std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 413") == 0);
  CHECK(reply.find("\"code\":\"payload_too_large\"") != std::string::npos);

  reply = RawExchange(port, "GET /throw HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 500") == 0);
  CHECK(reply.find("boom") != std::string::npos);

  reply = RawExchange(port, "NOT-HTTP\r\n\r\n", std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 400") == 0);

  const std::string huge_header = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  reply = RawExchange(port, huge_header, std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 431") == 0);

  // A client that asks before it sends its body gets the go-ahead, then the answer.
  reply = RawExchange(port,
                      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
                      "Connection: close\r\n\r\nabc",
                      std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK") == 0);
  CHECK(reply.find("POST /x q= body=3") != std::string::npos);
  // ... but not for a body over the cap, which is refused at once.
  reply = RawExchange(port,
                      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
                      std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 413") == 0);

  // Keep-alive: two requests on one connection.
  reply = RawExchange(port,
                      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                      std::chrono::seconds(5));
  CHECK(reply.find("GET /1") != std::string::npos);
  CHECK(reply.find("GET /2") != std::string::npos);
}

TEST_CASE("http server: a slow or silent client is dropped at the deadline; connections are capped") {
  ServerOptions options;
  options.port = 0;
  options.io_timeout = std::chrono::milliseconds(300);
  options.max_connections = 3;
  auto server = Server::Start(options, [](const Request&) { return Text("ok"); });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();

  // Half a request, then nothing: closed after the deadline, without an answer.
  bool closed = false;
  const auto started = std::chrono::steady_clock::now();
  std::string reply = RawExchange(port, "GET / HTTP/1.1\r\nHost:", std::chrono::seconds(5), &closed);
  CHECK(closed);
  CHECK(reply.empty());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));

  // Three idle connections fill the cap; a fourth is closed at once; once they time out the
  // server takes new ones again.
  net::io_context io;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 3; ++i) {
    idle.emplace_back(io);
    idle.back().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  bool refused_closed = false;
  reply = RawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", std::chrono::milliseconds(200), &refused_closed);
  CHECK(refused_closed);
  CHECK(reply.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  reply = RawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 200") == 0);
}

TEST_CASE("http server: a streamed response is sent in chunks until its source is done") {
  ServerOptions options;
  options.port = 0;
  options.stream_poll = std::chrono::milliseconds(20);
  auto server = Server::Start(options, [](const Request&) {
    Response response = Text("first\n");
    auto polls = std::make_shared<int>(0);
    response.stream = [polls] {
      ++*polls;
      StreamChunk chunk;
      if (*polls % 2 == 0) chunk.data = "line " + std::to_string(*polls) + "\n";
      chunk.done = *polls >= 6;
      return chunk;
    };
    return response;
  });
  REQUIRE(server.ok());
  std::string reply = RawExchange((*server)->port(), "GET /log HTTP/1.1\r\nHost: h\r\n\r\n", std::chrono::seconds(5));
  CHECK(reply.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(reply.find("first\n") != std::string::npos);
  CHECK(reply.find("line 2\n") != std::string::npos);
  CHECK(reply.find("line 6\n") != std::string::npos);
  CHECK(reply.find("\r\n0\r\n\r\n") != std::string::npos);  // the last chunk
}

TEST_CASE("http server: with a certificate it serves HTTPS only") {
  testing::TempDir dir;
  const std::string cert = dir.Path("cert.pem"), key = dir.Path("key.pem");
  const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " +
                              key + " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);

  ServerOptions options;
  options.port = 0;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  options.io_timeout = std::chrono::milliseconds(500);
  auto server = Server::Start(options, [](const Request&) { return Text("secret"); });
  REQUIRE(server.ok());
  CHECK((*server)->tls());
  const uint16_t port = (*server)->port();

  net::io_context io;
  net::ssl::context context(net::ssl::context::tls_client);
  context.set_verify_mode(net::ssl::verify_none);  // self-signed, for the test only
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  beast::get_lowest_layer(stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  stream.handshake(net::ssl::stream_base::client);
  bhttp::request<bhttp::empty_body> request(bhttp::verb::get, "/", 11);
  request.set(bhttp::field::host, "localhost");
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(stream, buffer, response);
  CHECK(response.result_int() == 200);
  CHECK(response.body() == "secret");

  // Plain HTTP to the TLS port gets no HTTP answer.
  bool closed = false;
  std::string reply = RawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", std::chrono::seconds(3), &closed);
  CHECK(reply.find("secret") == std::string::npos);
  CHECK(reply.find("HTTP/1.1 200") == std::string::npos);

  // A missing key file is one clear error.
  options.tls_key_file = dir.Path("missing.pem");
  auto refused = Server::Start(options, [](const Request&) { return Text(""); });
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("--tls-key") == 0);
}

}  // namespace aimass::service::http
