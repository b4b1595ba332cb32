// The service's HTTP server in one process, against a client that misbehaves on purpose: slow
// and silent clients are dropped at the deadline, idle connections make room at the caps and
// busy ones never do, a request refused on its head is answered without its body, exhausted
// descriptors do not make the accept loop spin, a throwing handler is a 500, a streamed
// response arrives chunked, and TLS serves HTTPS only.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include "tests/catch.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

// A server for the cap tests: "/slow" answers only when the test says (its connection is busy:
// a request being handled); "Bearer good" is an authenticated request; warnings are kept.
struct CapServer {
  CapServer(size_t max_connections, size_t max_per_address) {
    ServerOptions options;
    options.port = 0;
    options.max_connections = max_connections;
    options.max_connections_per_address = max_per_address;
    options.warn = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex);
      warnings.push_back(line);
    };
    options.admit = [](const Request& head) {
      Admission admission;
      admission.authenticated = head.authorization == "Bearer good";
      return admission;
    };
    auto started = Server::Start(options, [this](const Request& request) {
      if (request.path != "/slow") return Text("ok " + request.client);
      Response response;
      response.deferred = [this](Respond respond) {
        std::lock_guard<std::mutex> lock(mutex);
        pending.push_back(std::move(respond));
      };
      return response;
    });
    REQUIRE(started.ok());
    server = std::move(started).value();
    endpoint = tcp::endpoint(net::ip::make_address("127.0.0.1"), server->port());
  }
  size_t Pending() {
    std::lock_guard<std::mutex> lock(mutex);
    return pending.size();
  }
  // A connection with a request being handled.
  tcp::socket Busy() {
    tcp::socket socket(io);
    socket.connect(endpoint);
    const size_t before = Pending();
    net::write(socket, net::buffer(std::string("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")));
    for (int i = 0; i < 200 && Pending() == before; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(Pending() == before + 1);
    return socket;
  }
  // A kept-alive connection that has had one authenticated request answered.
  tcp::socket Trusted() {
    tcp::socket socket(io);
    socket.connect(endpoint);
    net::write(socket, net::buffer(std::string("GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer good\r\n\r\n")));
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> answer;
    bhttp::read(socket, buffer, answer);
    CHECK(answer.body() == "ok 127.0.0.1");
    return socket;
  }
  tcp::socket Idle() {
    tcp::socket socket(io);
    socket.connect(endpoint);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // an order of age
    return socket;
  }

  net::io_context io;
  std::unique_ptr<Server> server;
  tcp::endpoint endpoint;
  std::mutex mutex;
  std::vector<std::string> warnings;
  std::vector<Respond> pending;
};

// True once the server closed `socket` (EOF or reset within 300 ms); false while it is open.
bool ClosedByServer(tcp::socket& socket) {
  socket.non_blocking(true);
  char byte;
  boost::system::error_code error;
  for (int i = 0; i < 30; ++i) {
    socket.read_some(net::buffer(&byte, 1), error);
    if (error != net::error::would_block) return error == net::error::eof || error == net::error::connection_reset;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
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
  options.head_timeout = std::chrono::milliseconds(300);
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

  // Three idle connections fill the cap; a fourth takes the place of the oldest one, which is
  // closed, and is answered.
  net::io_context io;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 3; ++i) {
    idle.emplace_back(io);
    idle.back().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // an order of age
  }
  reply = RawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", std::chrono::seconds(2));
  CHECK(reply.find("HTTP/1.1 200") == 0);
  CHECK(ClosedByServer(idle[0]));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  reply = RawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 200") == 0);
}

TEST_CASE("http server: at the per-address cap the address's oldest connection waiting for a head "
          "makes room, one never authenticated before an authenticated one") {
  CapServer cap(100, 3);
  // All from 127.0.0.1: an authenticated connection, kept alive and idle, then two that never
  // sent anything. A fourth closes the oldest of those two, not the older authenticated one.
  tcp::socket trusted = cap.Trusted();
  tcp::socket first = cap.Idle();
  tcp::socket second = cap.Idle();
  std::string reply = RawExchange(cap.endpoint.port(), "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                                  std::chrono::seconds(2));
  CHECK(reply.find("HTTP/1.1 200") == 0);
  CHECK(ClosedByServer(first));
  CHECK_FALSE(ClosedByServer(second));
  CHECK_FALSE(ClosedByServer(trusted));
  std::lock_guard<std::mutex> lock(cap.mutex);
  REQUIRE(cap.warnings.size() == 1);
  CHECK(cap.warnings[0].find("HTTP connections at a cap") != std::string::npos);
}

TEST_CASE("http server: at the cap an idle connection makes room, an authenticated one last; busy "
          "connections are never given up, and with only busy ones a new connection is refused") {
  CapServer cap(4, 100);
  tcp::socket trusted = cap.Trusted();
  std::vector<tcp::socket> busy;
  for (int i = 0; i < 3; ++i) busy.push_back(cap.Busy());
  // Full: the only connection waiting for a head is the authenticated one; it makes room.
  busy.push_back(cap.Busy());
  CHECK(ClosedByServer(trusted));
  // Every slot busy: a new connection is closed at once, without an answer.
  bool refused_closed = false;
  std::string reply = RawExchange(cap.endpoint.port(), "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
                                  std::chrono::milliseconds(500), &refused_closed);
  CHECK(reply.empty());
  CHECK(refused_closed);
  // The busy ones were all kept, and are answered in the end.
  std::vector<Respond> pending;
  {
    std::lock_guard<std::mutex> lock(cap.mutex);
    pending = cap.pending;
  }
  REQUIRE(pending.size() == 4);
  for (auto& respond : pending) respond(Text("late"));
  for (auto& socket : busy) {
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> late;
    boost::system::error_code error;
    bhttp::read(socket, buffer, late, error);
    CHECK_FALSE(error);
    CHECK(late.body() == "late");
  }
}

TEST_CASE("http server: a request refused on its head is answered without its body being read") {
  ServerOptions options;
  options.port = 0;
  options.head_timeout = std::chrono::milliseconds(300);
  std::atomic<int> handled{0};
  options.admit = [](const Request& head) {
    Admission admission;
    if (head.path == "/public") return admission;  // admitted without a credential
    if (head.authorization != "Bearer good") {
      Response refused = Text("go away");
      refused.status = 401;
      admission.refuse = refused;
    } else {
      admission.authenticated = true;
    }
    CHECK(head.body.empty());
    return admission;
  };
  auto server = Server::Start(options, [&](const Request& request) {
    ++handled;
    return Text("body=" + std::to_string(request.body.size()));
  });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();

  // A body announced and never sent: refused at once, not after a deadline.
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  std::string reply = RawExchange(port, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n",
                                  std::chrono::seconds(5), &closed);
  CHECK(reply.find("HTTP/1.1 401") == 0);
  CHECK(closed);  // its body was not read: the connection cannot go on
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(250));
  // Without a body a refusal keeps the connection: the next request on it is read.
  reply = RawExchange(port,
                      "GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer good\r\n"
                      "Connection: close\r\n\r\n",
                      std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 401") == 0);
  CHECK(reply.find("body=0") != std::string::npos);
  CHECK(handled == 1);

  // An authenticated body may take io_timeout; an admitted request without a credential has
  // head_timeout for it.
  net::io_context io;
  const auto endpoint = tcp::endpoint(net::ip::make_address("127.0.0.1"), port);
  for (bool authenticated : {true, false}) {
    INFO("authenticated: " << authenticated);
    tcp::socket socket(io);
    socket.connect(endpoint);
    const std::string start = authenticated ? "POST /x HTTP/1.1\r\nAuthorization: Bearer good\r\n"
                                            : "POST /public HTTP/1.1\r\n";
    net::write(socket, net::buffer(start + "Host: h\r\n" +
                                   "Content-Length: 3\r\nConnection: close\r\n\r\na"));
    std::this_thread::sleep_for(std::chrono::milliseconds(600));  // past head_timeout
    boost::system::error_code error;
    net::write(socket, net::buffer(std::string("bc")), error);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    bhttp::read(socket, buffer, response, error);
    if (authenticated) {
      CHECK(response.body() == "body=3");
    } else {
      CHECK(error);  // dropped at head_timeout, before the body was whole
    }
  }
}

TEST_CASE("http server: out of descriptors the accept loop backs off instead of spinning, and serves "
          "again once descriptors are free") {
  std::vector<std::string> warnings;
  std::mutex warnings_mutex;
  ServerOptions options;
  options.port = 0;
  options.warn = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(warnings_mutex);
    warnings.push_back(line);
  };
  auto server = Server::Start(options, [](const Request&) { return Text("ok"); });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();
  const auto endpoint = tcp::endpoint(net::ip::make_address("127.0.0.1"), port);

  // Two clients' sockets made first (a socket and the client's own reactor need descriptors),
  // then the process's descriptor limit lowered and every free descriptor taken: the clients
  // connect, and the server can accept neither (EMFILE).
  net::io_context io;
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back(io);
    clients.back().open(tcp::v4());
  }
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  int highest = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    highest = std::max(highest, std::stoi(entry.path().filename().string()));
  }
  rlimit lowered = saved;
  lowered.rlim_cur = static_cast<rlim_t>(highest + 64);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  std::vector<int> fillers;
  int failure = 0;
  while (true) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      failure = errno;
      break;
    }
    fillers.push_back(fd);
  }
  for (auto& client : clients) client.connect(endpoint);  // completed by the kernel, in the backlog

  // A second of exhaustion: the process (the server's threads; this one sleeps) uses a small
  // part of a second of CPU, where an accept loop retrying at once would use all of it.
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ::getrusage(RUSAGE_SELF, &after);
  auto cpu_ms = [](const rusage& usage) {
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000.0 +
           (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000.0;
  };
  const double used_ms = cpu_ms(after) - cpu_ms(before);

  for (int fd : fillers) ::close(fd);
  fillers.clear();
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(failure == EMFILE);
  CHECK(used_ms < 200);
  // The pending clients were closed at once with the reserve descriptor, not left waiting.
  for (auto& client : clients) CHECK(ClosedByServer(client));
  {
    std::lock_guard<std::mutex> lock(warnings_mutex);
    REQUIRE(warnings.size() == 1);  // once per interval, not once per try
    CHECK(warnings[0].find("Too many open files") != std::string::npos);
  }
  // Descriptors are back: the server answers again (after its backoff, at most a second).
  std::string reply = RawExchange(port, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", std::chrono::seconds(5));
  CHECK(reply.find("HTTP/1.1 200") == 0);
}

TEST_CASE("http server: ClientKey groups an IPv6 client by its /64") {
  CHECK(ClientKey("198.51.100.7") == "198.51.100.7");
  CHECK(ClientKey("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(ClientKey("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64");
  CHECK(ClientKey("::ffff:10.0.0.1") == "10.0.0.1");
  CHECK(ClientKey("unknown") == "unknown");
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
