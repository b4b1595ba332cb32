// A small HTTP/1.1 server (Boost.Beast) for the service's REST API and UI: plain or TLS, keep-
// alive, and the limits that make a connection from outside harmless — a capped header and
// body (413 before the body is read), a deadline on every read and write (a slow or silent
// client is dropped, never waited on), caps on open connections (in all and per client
// address), and a handler that throws answered with 500 instead of ending the process.
//
// Connections that wait for a request head are cheap to open and cost a slot each, so they are
// the ones given up when slots run short, as nginx reuses its idle connections:
//   - a new connection has `head_timeout` (a few seconds) for its TLS handshake and its first
//     request head, a kept-alive one `keep_alive_timeout` for its next head;
//   - at `max_connections` (or at `max_connections_per_address` for the new connection's
//     address) a new connection takes the place of the oldest one still waiting for a head —
//     first among connections that never sent an authenticated request, then among the others —
//     and is refused only when every slot holds a request being read, handled or answered;
//   - `admit` sees each request's head before its body is read: an unauthenticated request is
//     answered (401, 429) at once, without reading its body, so only a client with a valid
//     token can hold a slot for `io_timeout`; an admitted unauthenticated request (a public
//     route) must deliver its body within `head_timeout`.
// Every descriptor the server opens is close-on-exec from its first instant (SOCK_CLOEXEC,
// accept4): a child the service starts never holds the API's port. When the process runs out
// of descriptors (EMFILE) the accept loop does not spin: it closes the pending connections with
// a descriptor kept in reserve (as libuv does) and waits, up to a second, before it accepts
// again; warnings about it, and about the caps, are logged at most once per `warning_interval`.
//
// The server knows nothing of the API: every request goes to one Handler, called on one of the
// server's threads; a handler must not block for long (it shares those threads with every other
// connection): work that waits (a prediction) answers later through a deferred response. A response may instead be a stream of chunks (a followed log), which the server
// polls at `stream_poll` intervals until the source says it is done or the client goes away.
//
// Thread safety: Start, port and Stop may be called from any thread; the Handler and `admit`
// are called concurrently from several threads and must synchronise themselves.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
  // What per-client limits count by: the client's IPv4 address, or the /64 of an IPv6 one (a
  // host is usually given a whole /64).
  std::string client;
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

// What the server is told about a request from its head alone, before the body is read.
struct Admission {
  // Set: the answer, sent at once; the body is not read (the connection ends after the answer
  // when the request has one).
  std::optional<Response> refuse;
  // The head carried a valid credential: the request's body may take `io_timeout`, and the
  // connection is the last to be given up for a new one when slots run short.
  bool authenticated = false;
};
// Given a request without its body (`body` is empty).
using AdmitHead = std::function<Admission(const Request& head)>;

// A warning said at most once per interval; the occurrences in between are counted, and the
// next line says how many there were. Thread-safe.
class IntervalLog {
 public:
  explicit IntervalLog(std::chrono::milliseconds interval) : interval_(interval) {}
  // True when this occurrence is to be logged; `*left_out` is then how many were not since
  // the last one that was.
  bool Due(std::chrono::steady_clock::time_point now, size_t* left_out);

 private:
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::optional<std::chrono::steady_clock::time_point> last_;  // GUARDED_BY(mutex_)
  size_t left_out_ = 0;                                        // GUARDED_BY(mutex_)
};

// "198.51.100.7" -> itself; "2001:db8:1:2:3:4:5:6" -> "2001:db8:1:2::/64"; "::ffff:10.0.0.1"
// -> "10.0.0.1"; anything that is not an address is kept as it is.
std::string ClientKey(const std::string& address);

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8470;  // 0: a free port (see Server::port)
  std::string tls_cert_file;  // both set: HTTPS only
  std::string tls_key_file;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  // A new connection's TLS handshake and first request head must arrive within this.
  std::chrono::milliseconds head_timeout{std::chrono::seconds(5)};
  // A kept-alive connection's next request head must arrive within this.
  std::chrono::milliseconds keep_alive_timeout{std::chrono::seconds(15)};
  // Reading an admitted request's body and writing one response must each finish within this.
  std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};
  // At either cap a new connection takes the place of the oldest one waiting for a request
  // head (from the same address, for the per-address cap); with none waiting it is closed.
  size_t max_connections = 512;
  size_t max_connections_per_address = 128;
  // Unset: every request is read whole and goes to the handler, with `io_timeout` for its body.
  AdmitHead admit;
  // The server's warnings (exhausted descriptors, a cap reached), at most one line of each
  // kind per interval; unset: written to stderr.
  std::function<void(const std::string&)> warn;
  std::chrono::milliseconds warning_interval{std::chrono::seconds(60)};
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
