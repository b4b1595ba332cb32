// Cron expressions for the service's scheduled jobs (issue 12, part 2): the five classic
// fields, evaluated in UTC (no daylight-saving jumps).
//
//   minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12 or jan-dec)  day-of-week (0-7
//   or sun-sat; 0 and 7 are Sunday)
//
// Each field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma-separated
// list of those. As in Vixie cron, when both day fields are restricted a day matches if
// either does ("0 0 1 * mon": the 1st of the month and every Monday).
//
// Times are whole seconds since the Unix epoch, so a caller can pass the time of an injected
// clock (Env) and tests can walk calendars without waiting.
//
// Thread safety: an immutable value; const methods may be called concurrently.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace aimass::service {

class CronSchedule {
 public:
  // kInvalidArgument naming the field and the text at fault.
  [[nodiscard]] static Result<CronSchedule> Parse(const std::string& expression);

  // The first minute strictly after `after` (seconds since the epoch, UTC) that matches, or
  // nullopt when none does within 8 years (e.g. "0 0 30 2 *": February has no 30th).
  std::optional<int64_t> NextAfter(int64_t after) const;

  // Whether the minute holding `time` matches.
  bool Matches(int64_t time) const;

  const std::string& expression() const { return expression_; }

 private:
  std::string expression_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // 1-31
  std::bitset<13> months_;         // 1-12
  std::bitset<7> days_of_week_;    // 0-6, Sunday first
  bool day_of_month_restricted_ = false;
  bool day_of_week_restricted_ = false;
};

}  // namespace aimass::service
