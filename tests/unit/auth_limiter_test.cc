// Failed token attempts per address (auth_limiter.h), on a clock the test moves: the limit
// blocks only the address that failed, for the block's length, counts failures within a window,
// and warns once per interval.
#include "tests/catch.h"

#include <chrono>
#include <string>
#include <vector>

#include "coordinator/service/auth_limiter.h"

namespace aimass::service {

TEST_CASE("failed tokens: an address is blocked after N failures in the window, others are not") {
  using std::chrono::seconds;
  std::vector<std::string> warnings;
  FailedTokenLimits limits;
  limits.max_failures = 5;
  limits.window = seconds(60);
  limits.block = seconds(30);
  limits.warning_interval = seconds(60);
  FailedTokenLimiter limiter(limits, [&](const std::string& line) { warnings.push_back(line); });
  const auto t0 = FailedTokenLimiter::Clock::now();

  for (int i = 0; i < 4; ++i) limiter.Failed("10.0.0.1", t0 + seconds(i));
  CHECK(limiter.RetryAfterSeconds("10.0.0.1", t0 + seconds(4)) == 0);
  limiter.Failed("10.0.0.1", t0 + seconds(4));  // the fifth within the window
  CHECK(limiter.RetryAfterSeconds("10.0.0.1", t0 + seconds(4)) == 30);
  CHECK(limiter.RetryAfterSeconds("10.0.0.1", t0 + seconds(33)) == 1);
  CHECK(limiter.RetryAfterSeconds("10.0.0.2", t0 + seconds(4)) == 0);  // another address
  CHECK(limiter.RetryAfterSeconds("10.0.0.1", t0 + seconds(34)) == 0);  // the block is over
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("5 failed token attempts from 10.0.0.1") != std::string::npos);

  // Failures spread wider than the window never add up to a block.
  for (int i = 0; i < 20; ++i) limiter.Failed("10.0.0.3", t0 + seconds(20 * i));
  CHECK(limiter.RetryAfterSeconds("10.0.0.3", t0 + seconds(400)) == 0);

  // A second address blocked within the warning interval is counted, and named in the next line.
  for (int i = 0; i < 5; ++i) limiter.Failed("10.0.0.4", t0 + seconds(10));
  CHECK(limiter.RetryAfterSeconds("10.0.0.4", t0 + seconds(10)) == 30);
  CHECK(warnings.size() == 1);
  for (int i = 0; i < 5; ++i) limiter.Failed("10.0.0.5", t0 + seconds(70));
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[1].find("(1 more addresses blocked since the last warning)") != std::string::npos);
}

TEST_CASE("failed tokens: the addresses remembered are bounded; blocked ones are kept") {
  using std::chrono::seconds;
  FailedTokenLimits limits;
  limits.max_failures = 2;
  limits.max_addresses = 10;
  FailedTokenLimiter limiter(limits, [](const std::string&) {});
  const auto t0 = FailedTokenLimiter::Clock::now();
  limiter.Failed("blocked", t0);
  limiter.Failed("blocked", t0);
  for (int i = 0; i < 100; ++i) limiter.Failed("scan-" + std::to_string(i), t0);
  CHECK(limiter.RetryAfterSeconds("blocked", t0) > 0);
}

}  // namespace aimass::service
