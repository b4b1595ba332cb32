// A small HTTP/1.1 server (Boost.Beast) for the service's REST API and UI: plain or TLS, keep-
// alive, and the limits that make a connection from outside harmless — a capped header and
// body (413 before the body is read), a deadline on every read and write (a slow or silent
// client is dropped, never waited on), a cap on open connections, and a handler that throws
// answered with 500 instead of ending the process.
//
// The server knows nothing of the API: every request goes to one Handler, called on one of the
// server's threads; a handler must not block for long (it shares those threads with every other
// connection): work that waits (a prediction) answers later through a deferred response. A response may instead be a stream of chunks (a followed log), which the server
// polls at `stream_poll` intervals until the source says it is done or the client goes away.
//
// Thread safety: Start, port and Stop may be called from any thread; the Handler is called
// concurrently from several threads and must synchronise itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace aimass::service::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, as sent (the API's names need no decoding)
  std::map<std::string, std::string> query;  // decoded; a repeated key keeps its last value
  std::string body;
  std::string authorization;  // the Authorization header, if any
  std::string remote;         // the client's address
};

// What a streamed response has next: `data` (may be empty) and whether it was the last.
struct StreamChunk {
  std::string data;
  bool done = false;
};

struct Response;

// Delivers a deferred response; call it exactly once, from any thread (later calls, and calls
// after the server gave up on the request, do nothing).
using Respond = std::function<void(Response)>;

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set: the body is sent chunked, from what this returns each time it is polled (on a server
  // thread, so it must return at once); `body` is sent first.
  std::function<StreamChunk()> stream;
  // Set: the answer is not ready yet (a prediction waiting for its batch). The server calls
  // this once with a Respond, and sends what is given to it; until then the handler's thread
  // is free for other connections. Nothing given within io_timeout is answered with 504.
  std::function<void(Respond)> deferred;
};

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8470;  // 0: a free port (see Server::port)
  std::string tls_cert_file;  // both set: HTTPS only
  std::string tls_key_file;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  // Reading one request (from its first byte, or from the end of the previous one on a kept-
  // alive connection) and writing one response must each finish within this.
  std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};
  size_t max_connections = 512;  // more are closed at once
  unsigned threads = 4;
  std::chrono::milliseconds stream_poll{250};
  // A streamed response ends after this long even if its source is not done.
  std::chrono::milliseconds max_stream{std::chrono::hours(24)};
};

class Server {
 public:
  // Binds, listens and starts serving on the server's own threads.
  [[nodiscard]] static Result<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  bool tls() const;
  // Stops accepting, drops every connection and joins the threads; idempotent.
  void Stop();

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "%41b+c" -> "Ab c" (query strings); a malformed escape is kept as it is.
std::string DecodeQueryComponent(const std::string& text);

}  // namespace aimass::service::http
