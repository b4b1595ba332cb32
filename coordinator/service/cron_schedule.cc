#include "coordinator/service/cron_schedule.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <sstream>
#include <vector>

namespace aimass::service {
namespace {

struct FieldSpec {
  const char* name;
  int low;
  int high;
  const char* const* names;  // symbolic names for low, low+1, ... or nullptr
};

const char* const kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec", nullptr};
const char* const kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", nullptr};

const std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},
    {"day of month", 1, 31, nullptr},
    {"month", 1, 12, kMonthNames},
    {"day of week", 0, 7, kDayNames},  // 7 is Sunday as well
}};

std::optional<int> ParseValue(const std::string& text, const FieldSpec& spec) {
  if (text.empty()) return std::nullopt;
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (text.size() > 2) return std::nullopt;
    int value = std::stoi(text);
    if (value < spec.low || value > spec.high) return std::nullopt;
    return value;
  }
  if (spec.names != nullptr) {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (int i = 0; spec.names[i] != nullptr; ++i) {
      if (lower == spec.names[i]) return spec.low + i;
    }
  }
  return std::nullopt;
}

// Sets the values `text` names in `values` (indexed by value); whether it restricts the field.
Status ParseField(const std::string& text, const FieldSpec& spec, std::vector<bool>& values,
                  bool& restricted) {
  auto bad = [&](const std::string& part) {
    return Status::InvalidArgument(std::string(spec.name) + ": '" + part + "' is not a value, range or step in " +
                                   std::to_string(spec.low) + "-" + std::to_string(spec.high));
  };
  // As in Vixie cron, a field that starts with '*' ("*", "*/2") does not restrict its day
  // field for the either-day rule.
  restricted = text.empty() || text[0] != '*';
  std::stringstream parts(text);
  std::string part;
  bool any = false;
  while (std::getline(parts, part, ',')) {
    any = true;
    std::string range = part;
    int step = 1;
    size_t slash = part.find('/');
    if (slash != std::string::npos) {
      range = part.substr(0, slash);
      const std::string step_text = part.substr(slash + 1);
      if (step_text.empty() || step_text.size() > 2 ||
          !std::all_of(step_text.begin(), step_text.end(), [](unsigned char c) { return std::isdigit(c); })) {
        return bad(part);
      }
      step = std::stoi(step_text);
      if (step < 1) return bad(part);
    }
    int first = spec.low, last = spec.high;
    if (range != "*") {
      size_t dash = range.find('-');
      auto from = ParseValue(range.substr(0, dash), spec);
      if (!from) return bad(part);
      first = *from;
      last = *from;
      if (dash != std::string::npos) {
        auto to = ParseValue(range.substr(dash + 1), spec);
        if (!to || *to < *from) return bad(part);
        last = *to;
      } else if (slash != std::string::npos) {
        last = spec.high;  // "5/15": from 5 to the end, every 15
      }
    }
    for (int value = first; value <= last; value += step) values[static_cast<size_t>(value)] = true;
  }
  if (!any) return bad(text);
  return Status::Ok();
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(const std::string& expression) {
  std::istringstream words(expression);
  std::vector<std::string> fields;
  for (std::string word; words >> word;) fields.push_back(word);
  if (fields.size() != 5) {
    return Status::InvalidArgument("cron '" + expression + "': needs 5 fields (minute hour day-of-month month "
                                   "day-of-week), found " + std::to_string(fields.size()));
  }
  CronSchedule schedule;
  schedule.expression_ = expression;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::vector<bool> values(static_cast<size_t>(kFields[i].high) + 1, false);
    bool restricted = false;
    Status parsed = ParseField(fields[i], kFields[i], values, restricted);
    if (!parsed.ok()) return parsed.WithContext("cron '" + expression + "'");
    for (size_t value = 0; value < values.size(); ++value) {
      if (!values[value]) continue;
      switch (i) {
        case 0: schedule.minutes_.set(value); break;
        case 1: schedule.hours_.set(value); break;
        case 2: schedule.days_of_month_.set(value); break;
        case 3: schedule.months_.set(value); break;
        case 4: schedule.days_of_week_.set(value % 7); break;
      }
    }
    if (i == 2) schedule.day_of_month_restricted_ = restricted;
    if (i == 4) schedule.day_of_week_restricted_ = restricted;
  }
  return schedule;
}

bool CronSchedule::Matches(int64_t time) const {
  std::time_t seconds = static_cast<std::time_t>(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  if (!minutes_.test(static_cast<size_t>(utc.tm_min)) || !hours_.test(static_cast<size_t>(utc.tm_hour)) ||
      !months_.test(static_cast<size_t>(utc.tm_mon + 1))) {
    return false;
  }
  const bool day_of_month = days_of_month_.test(static_cast<size_t>(utc.tm_mday));
  const bool day_of_week = days_of_week_.test(static_cast<size_t>(utc.tm_wday));
  if (day_of_month_restricted_ && day_of_week_restricted_) return day_of_month || day_of_week;
  return day_of_month && day_of_week;
}

std::optional<int64_t> CronSchedule::NextAfter(int64_t after) const {
  // Minute by minute from the next whole minute, skipping a whole day or hour at once when it
  // cannot match: at most a few thousand steps for any expression over 8 years.
  int64_t time = (after / 60 + 1) * 60;
  const int64_t limit = after + 8LL * 366 * 24 * 3600;
  while (time <= limit) {
    std::time_t seconds = static_cast<std::time_t>(time);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    const int64_t start_of_day = time - (utc.tm_hour * 3600 + utc.tm_min * 60 + utc.tm_sec);
    const bool day_of_month = days_of_month_.test(static_cast<size_t>(utc.tm_mday));
    const bool day_of_week = days_of_week_.test(static_cast<size_t>(utc.tm_wday));
    const bool day = day_of_month_restricted_ && day_of_week_restricted_ ? (day_of_month || day_of_week)
                                                                         : (day_of_month && day_of_week);
    if (!months_.test(static_cast<size_t>(utc.tm_mon + 1)) || !day) {
      time = start_of_day + 24 * 3600;
      continue;
    }
    if (!hours_.test(static_cast<size_t>(utc.tm_hour))) {
      time = start_of_day + (utc.tm_hour + 1) * 3600;
      continue;
    }
    if (minutes_.test(static_cast<size_t>(utc.tm_min))) return time;
    time += 60;
  }
  return std::nullopt;
}

}  // namespace aimass::service
