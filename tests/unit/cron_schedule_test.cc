// Cron expressions against calendar edge cases, with times given directly (an injected clock):
// month ends, leap years, both day fields restricted, steps and names, and refusals that name
// the field at fault.
#include "tests/catch.h"

#include <ctime>

#include "coordinator/service/cron_schedule.h"

namespace aimass::service {
namespace {

// Seconds since the epoch of a UTC date and time.
int64_t Utc(int year, int month, int day, int hour = 0, int minute = 0) {
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  return static_cast<int64_t>(timegm(&parts));
}

int64_t Next(const std::string& expression, int64_t after) {
  auto schedule = CronSchedule::Parse(expression);
  REQUIRE(schedule.ok());
  auto next = schedule->NextAfter(after);
  REQUIRE(next.has_value());
  return *next;
}

}  // namespace

TEST_CASE("cron: daily, hourly and stepped schedules fire at the next matching minute", "[cron]") {
  CHECK(Next("0 2 * * *", Utc(2026, 11, 28, 1, 59)) == Utc(2026, 11, 28, 2, 0));
  CHECK(Next("0 2 * * *", Utc(2026, 11, 28, 2, 0)) == Utc(2026, 11, 29, 2, 0));  // strictly after
  CHECK(Next("0 2 * * *", Utc(2026, 12, 31, 3, 0)) == Utc(2027, 1, 1, 2, 0));    // over a year end
  CHECK(Next("*/15 * * * *", Utc(2026, 11, 28, 10, 16)) == Utc(2026, 11, 28, 10, 30));
  CHECK(Next("5/20 * * * *", Utc(2026, 11, 28, 10, 46)) == Utc(2026, 11, 28, 11, 5));
  CHECK(Next("30 9-17/4 * * *", Utc(2026, 11, 28, 13, 31)) == Utc(2026, 11, 28, 17, 30));
  CHECK(Next("0,30 * * * *", Utc(2026, 11, 28, 10, 0) + 1) == Utc(2026, 11, 28, 10, 30));
}

TEST_CASE("cron: month ends and leap days", "[cron]") {
  // The 31st skips the months that have none.
  CHECK(Next("0 0 31 * *", Utc(2026, 3, 31, 1)) == Utc(2026, 5, 31));
  CHECK(Next("0 0 31 * *", Utc(2026, 7, 31, 1)) == Utc(2026, 8, 31));
  // The 29th of February waits for a leap year.
  CHECK(Next("0 12 29 feb *", Utc(2026, 3, 1)) == Utc(2028, 2, 29, 12));
  // The 30th of February never comes.
  auto never = CronSchedule::Parse("0 0 30 2 *");
  REQUIRE(never.ok());
  CHECK_FALSE(never->NextAfter(Utc(2026, 1, 1)).has_value());
}

TEST_CASE("cron: day of week, names, Sunday as 0 or 7, and the either-day rule", "[cron]") {
  // 2026-11-28 is a Saturday.
  CHECK(Next("0 8 * * mon-fri", Utc(2026, 11, 28)) == Utc(2026, 11, 30, 8));
  CHECK(Next("0 8 * * 0", Utc(2026, 11, 28)) == Utc(2026, 11, 29, 8));
  CHECK(Next("0 8 * * 7", Utc(2026, 11, 28)) == Utc(2026, 11, 29, 8));
  CHECK(Next("0 8 * DEC SUN", Utc(2026, 11, 28)) == Utc(2026, 12, 6, 8));
  // Both day fields restricted: the 1st of the month or any Monday, whichever comes first.
  CHECK(Next("0 0 1 * mon", Utc(2026, 11, 28)) == Utc(2026, 11, 30));
  CHECK(Next("0 0 1 * mon", Utc(2026, 11, 30, 1)) == Utc(2026, 12, 1));
  auto schedule = CronSchedule::Parse("0 0 1 * mon");
  REQUIRE(schedule.ok());
  CHECK(schedule->Matches(Utc(2026, 12, 7)));          // a Monday
  CHECK_FALSE(schedule->Matches(Utc(2026, 12, 8)));    // a Tuesday, not the 1st
  CHECK_FALSE(schedule->Matches(Utc(2026, 12, 7, 0, 1)));
  // A day field that starts with '*' does not count as restricted: every other day of the
  // month that is also a Monday.
  CHECK(Next("0 0 */2 * mon", Utc(2026, 11, 28)) == Utc(2026, 12, 7));
}

TEST_CASE("cron: malformed expressions are refused naming the field", "[cron]") {
  struct Case {
    const char* expression;
    const char* names;
  };
  for (const Case& bad : {Case{"0 2 * *", "needs 5 fields"}, Case{"60 * * * *", "minute"},
                          Case{"* 24 * * *", "hour"}, Case{"* * 0 * *", "day of month"},
                          Case{"* * * 13 *", "month"}, Case{"* * * * 8", "day of week"},
                          Case{"*/0 * * * *", "minute"}, Case{"5-1 * * * *", "minute"},
                          Case{"* * * foo *", "month"}, Case{"1,,2 * * * *", "minute"},
                          Case{"-1 * * * *", "minute"}, Case{"* * * * mon-", "day of week"}}) {
    INFO(bad.expression);
    auto parsed = CronSchedule::Parse(bad.expression);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == StatusCode::kInvalidArgument);
    CHECK(parsed.status().message().find(bad.names) != std::string::npos);
  }
}

}  // namespace aimass::service
