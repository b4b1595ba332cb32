#include "coordinator/service/auth_limiter.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <utility>

namespace aimass::service {

FailedTokenLimiter::FailedTokenLimiter(FailedTokenLimits limits, std::function<void(const std::string&)> warn)
    : limits_(limits), warn_(std::move(warn)), log_(limits.warning_interval) {}

int64_t FailedTokenLimiter::RetryAfterSeconds(const std::string& client, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = addresses_.find(client);
  if (found == addresses_.end() || found->second.blocked_until <= now) return 0;
  const auto left = found->second.blocked_until - now;
  return std::max<int64_t>(1, (std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 999) / 1000);
}

void FailedTokenLimiter::Failed(const std::string& client, Clock::time_point now) {
  std::string line;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (addresses_.size() >= limits_.max_addresses && addresses_.count(client) == 0) {
      // Many addresses (an IPv6 scan): keep only the blocked ones.
      for (auto it = addresses_.begin(); it != addresses_.end();) {
        it = it->second.blocked_until > now ? std::next(it) : addresses_.erase(it);
      }
      if (addresses_.size() >= limits_.max_addresses) return;
    }
    Address& address = addresses_[client];
    if (address.failures == 0 || now - address.window_start >= limits_.window) {
      address.window_start = now;
      address.failures = 0;
    }
    if (++address.failures < limits_.max_failures) return;
    // Blocked from now; the count starts afresh when the block ends.
    address.blocked_until = now + limits_.block;
    address.failures = 0;
    size_t left_out = 0;
    if (!log_.Due(now, &left_out)) return;
    line = std::to_string(limits_.max_failures) + " failed token attempts from " + client + " within " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limits_.window).count()) +
           " s: its tokens are refused (429) for " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(limits_.block).count()) + " s";
    if (left_out > 0) line += " (" + std::to_string(left_out) + " more addresses blocked since the last warning)";
  }
  if (warn_) {
    warn_(line);
  } else {
    std::fprintf(stderr, "aimass: warning: %s\n", line.c_str());
  }
}

}  // namespace aimass::service
