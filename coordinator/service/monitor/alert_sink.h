// Alerts: what the platform's watchers (training monitor, drift checks, online traffic) raise,
// and the one interface they raise them through. The sink behind it stores the alert, counts
// it for /metrics and delivers it to the webhook (docs/service.md, "Alerts"); a watcher knows
// none of that.
//
// Thread safety: Raise may be called from any thread, concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace aimass::service {

enum class AlertSeverity { kWarning, kAlert };

inline const char* AlertSeverityName(AlertSeverity severity) {
  return severity == AlertSeverity::kWarning ? "warning" : "alert";
}

struct Alert {
  // What was detected: "divergence", "overfitting", "stalled", "drift", "prediction_drift".
  std::string kind;
  AlertSeverity severity = AlertSeverity::kAlert;
  std::optional<int64_t> job_id;        // the job it was raised for, if any
  std::string model;                    // the model it concerns, if any
  std::optional<int64_t> model_version;
  std::string subject;                  // what within it: a feature name, "loss", "throughput"
  std::string message;                  // one line a person reads
  std::string details_json;             // the figures behind it (a JSON object), or empty
};

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Never fails the caller: a sink that cannot store or deliver says so in its own log.
  virtual void Raise(const Alert& alert) = 0;
};

}  // namespace aimass::service
