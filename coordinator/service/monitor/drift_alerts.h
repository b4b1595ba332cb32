// Turns a drift report (data_profile.h) into alerts (alert_sink.h): one `drift` alert for the
// features, when at least `thresholds.feature_share` of them reach `thresholds.warn` (severity
// warning) or `thresholds.alert` (severity alert), and one `prediction_drift` alert when the
// predicted classes' PSI reaches either. A feature
// alert names the worst features; its details carry the figures. Shared by batch inference
// jobs and online windows (drift_window.h), so both raise the same alerts.
//
// Thread safety: a pure function; the sink must be safe to call from the caller's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/data/data_profile.h"
#include "coordinator/service/monitor/alert_sink.h"

namespace aimass::service {

struct DriftSubject {
  std::optional<int64_t> job_id;
  std::string model;
  std::optional<int64_t> model_version;
  std::string source;  // how the message names the data: "job 12's input", "online window"
};

// Returns how many alerts were raised (0, 1 or 2).
int RaiseDriftAlerts(const data::DriftReport& report, const data::DriftThresholds& thresholds,
                     const DriftSubject& subject, AlertSink& sink);

}  // namespace aimass::service
