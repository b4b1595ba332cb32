// Failed bearer-token attempts, counted per client address (an IPv6 client's /64, see
// http::ClientKey): an address that fails `max_failures` times within `window` has its tokens
// refused for `block` (429 with Retry-After), whether they are right or not — otherwise the
// answer to a right guess would still tell it apart. Other addresses are not affected, and a
// request without a token is not counted. Tokens are 256-bit random strings, so this does not
// guard a guessable secret: it bounds what a client that tries many costs the server (a
// database read each, a log line) and makes a scan stand out.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "coordinator/service/http/http_server.h"

namespace aimass::service {

struct FailedTokenLimits {
  uint32_t max_failures = 20;
  std::chrono::milliseconds window{std::chrono::seconds(60)};
  std::chrono::milliseconds block{std::chrono::seconds(60)};
  size_t max_addresses = 10000;  // addresses remembered; past it the ones not blocked are forgotten
  std::chrono::milliseconds warning_interval{std::chrono::seconds(60)};
};

class FailedTokenLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `warn` gets one line per block, at most one per warning_interval (unset: stderr).
  explicit FailedTokenLimiter(FailedTokenLimits limits = {},
                              std::function<void(const std::string&)> warn = nullptr);

  // Whole seconds (at least 1) until `client` may try a token again; 0 when it may now.
  int64_t RetryAfterSeconds(const std::string& client, Clock::time_point now = Clock::now());

  // One failed attempt from `client`.
  void Failed(const std::string& client, Clock::time_point now = Clock::now());

 private:
  struct Address {
    Clock::time_point window_start;
    uint32_t failures = 0;
    Clock::time_point blocked_until;  // epoch: never blocked
  };

  const FailedTokenLimits limits_;
  const std::function<void(const std::string&)> warn_;
  http::IntervalLog log_;
  std::mutex mutex_;
  std::unordered_map<std::string, Address> addresses_;  // GUARDED_BY(mutex_)
};

}  // namespace aimass::service
