// DriftWindow: drift of online traffic against a model's training profile, in windows. Each
// scored request adds its raw features (before normalization, as the profile was taken) and its
// predicted class; a window closes after `max_requests` rows or once `max_seconds` have passed
// since its first row, whichever comes first. A closed window's PSI per feature and of the
// predicted classes is computed against the profile (data_profile.h) and raised through the
// AlertSink as batch jobs raise theirs (drift_alerts.h); the next window starts empty.
//
// A window that is too young to close on time closes on the next Add or Tick after its time is
// up: the serving path calls Tick from a timer so a quiet model's last window is not left open.
//
// Thread safety: every method may be called from any thread; alerts are raised outside the
// window's lock. The profile is copied; the sink must outlive the window.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "common/data/data_profile.h"
#include "common/status.h"
#include "coordinator/service/monitor/alert_sink.h"
#include "coordinator/service/monitor/drift_alerts.h"

namespace aimass::service {

struct DriftWindowOptions {
  uint64_t max_requests = 1000;  // rows per window
  double max_seconds = 300;      // a window closes this long after its first row
  data::DriftThresholds thresholds;
  // Fewer rows than this in a window that closes on time: no PSI (too few to judge), no alert.
  uint64_t min_requests = 100;
};

class DriftWindow {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  DriftWindow(data::DataProfile profile, DriftWindowOptions options, DriftSubject subject, AlertSink& sink,
              Clock clock = [] { return std::chrono::steady_clock::now(); });

  // Adds `rows` requests: row-major raw features (the profile's feature count each) and one
  // predicted class per row (-1: none). InvalidArgument when features.size() is not rows times
  // the profile's feature count. Returns the report of a window this closed, if any.
  [[nodiscard]] Result<std::optional<data::DriftReport>> Add(const std::vector<float>& features,
                                                             const std::vector<int64_t>& predicted);
  // Closes the window if its time is up; its report, if it closed with enough rows.
  std::optional<data::DriftReport> Tick();

  size_t feature_count() const { return edges_.size(); }
  uint64_t windows_closed() const;

 private:
  // Under mutex_: the closed window's counts (and a fresh window), when it must close now.
  std::optional<data::DriftCounts> TakeIfDue(bool full);
  data::DriftHistogram EmptyWindow() const;
  std::optional<data::DriftReport> Report(const std::optional<data::DriftCounts>& counts);

  const data::DataProfile profile_;
  const std::vector<std::vector<double>> edges_;
  const DriftWindowOptions options_;
  const DriftSubject subject_;
  AlertSink& sink_;
  const Clock clock_;

  mutable std::mutex mutex_;
  data::DriftHistogram window_;                                   // GUARDED_BY(mutex_)
  std::optional<std::chrono::steady_clock::time_point> opened_;   // GUARDED_BY(mutex_)
  uint64_t windows_closed_ = 0;                                   // GUARDED_BY(mutex_)
};

}  // namespace aimass::service
