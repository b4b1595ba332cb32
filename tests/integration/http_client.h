// A minimal HTTP/1.1 client for the service's integration tests (Boost.Beast), with a hard
// time limit on every call: a server that hangs fails the test instead of hanging CI.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace aimass::testing {

struct HttpReply {
  int status = 0;  // 0: no response (connection refused, reset, timed out)
  std::string body;
  std::string content_type;
  std::string error;  // why there was no response
};

HttpReply HttpCall(uint16_t port, const std::string& method, const std::string& target,
                   const std::string& body = "", const std::string& token = "",
                   std::chrono::seconds limit = std::chrono::seconds(30));

// Sends `bytes` as they are (a request the client library would not send) and reads one
// response.
HttpReply HttpRaw(uint16_t port, const std::string& bytes,
                  std::chrono::seconds limit = std::chrono::seconds(30));

}  // namespace aimass::testing
