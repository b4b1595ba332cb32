// A schedule's infer config is a template: each fire fills its placeholders and pins the
// schedule's model, and what comes out is an ordinary infer config, checked and queued as any
// submitted job is.
//
//   {partition}       the partition directory's name, e.g. dt=2026-11-27 (data triggers only)
//   {partition_path}  that directory's full path (data triggers only)
//   {date}            the fire's UTC date, YYYY-MM-DD
//
// The job's `model:` is set to models:/NAME@ALIAS; a template that names another model is
// refused, so that what a schedule runs is what its `model` says.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace aimass::service {

struct FireValues {
  std::string partition;       // empty for a cron fire
  std::string partition_path;  // empty for a cron fire
  int64_t time_ms = 0;         // the fire's time (a cron slot, or when the partition was seen)
};

// kInvalidArgument naming the key: "config: unknown placeholder {x}", "config: {partition}
// needs an on_data trigger", "config: model: ...", or the YAML's own error.
[[nodiscard]] Result<std::string> RenderScheduledConfig(const std::string& template_yaml,
                                                        const std::string& model,
                                                        const FireValues& values);

// "YYYY-MM-DD" of a time in UTC.
std::string UtcDate(int64_t time_ms);

// Whether a partition directory's name may be put into a config: letters, digits and
// . _ - = + only (no YAML syntax, no path separators).
bool SafePartitionName(const std::string& name);

}  // namespace aimass::service
