#include "coordinator/service/monitor/drift_window.h"

namespace aimass::service {

DriftWindow::DriftWindow(data::DataProfile profile, DriftWindowOptions options, DriftSubject subject,
                         AlertSink& sink, Clock clock)
    : profile_(std::move(profile)),
      edges_(data::ProfileEdges(profile_)),
      options_(options),
      subject_(std::move(subject)),
      sink_(sink),
      clock_(std::move(clock)),
      window_(EmptyWindow()) {}

data::DriftHistogram DriftWindow::EmptyWindow() const {
  return data::DriftHistogram(edges_, static_cast<uint32_t>(profile_.class_counts.size()));
}

std::optional<data::DriftCounts> DriftWindow::TakeIfDue(bool full) {
  const uint64_t rows = window_.records();
  if (rows == 0) return std::nullopt;
  const bool late = opened_ && std::chrono::duration<double>(clock_() - *opened_).count() >= options_.max_seconds;
  if (!full && !late) return std::nullopt;
  data::DriftCounts closed = window_.Counts();
  window_ = EmptyWindow();
  opened_.reset();
  ++windows_closed_;
  // A window closed on time with too few rows says nothing reliable: dropped.
  if (!full && rows < options_.min_requests) return std::nullopt;
  return closed;
}

std::optional<data::DriftReport> DriftWindow::Report(const std::optional<data::DriftCounts>& counts) {
  if (!counts) return std::nullopt;
  auto report = data::ComputeDrift(profile_, *counts);
  if (!report.ok()) return std::nullopt;  // shaped from the profile: cannot happen
  RaiseDriftAlerts(*report, options_.thresholds, subject_, sink_);
  return std::move(report).value();
}

Result<std::optional<data::DriftReport>> DriftWindow::Add(const std::vector<float>& features,
                                                          const std::vector<int64_t>& predicted) {
  const size_t width = edges_.size();
  const size_t rows = predicted.size();
  if (width == 0 || features.size() != rows * width) {
    return Status::InvalidArgument("drift window: " + std::to_string(features.size()) + " feature values for " +
                                   std::to_string(rows) + " requests; the profile has " + std::to_string(width) +
                                   " features per request");
  }
  std::vector<data::DriftCounts> closed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A window whose time ran out closes before new rows join it.
    if (auto late = TakeIfDue(false)) closed.push_back(std::move(*late));
    for (size_t row = 0; row < rows; ++row) {
      if (window_.records() == 0) opened_ = clock_();
      window_.Add(features.data() + row * width, predicted[row]);
      if (window_.records() >= options_.max_requests) {
        if (auto full = TakeIfDue(true)) closed.push_back(std::move(*full));
      }
    }
  }
  // Outside the lock: a slow sink never holds up scoring threads. Several windows closed by
  // one large call report in order; the last one's report is returned.
  std::optional<data::DriftReport> last;
  for (const data::DriftCounts& counts : closed) last = Report(counts);
  return last;
}

std::optional<data::DriftReport> DriftWindow::Tick() {
  std::optional<data::DriftCounts> closed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed = TakeIfDue(false);
  }
  return Report(closed);
}

uint64_t DriftWindow::windows_closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return windows_closed_;
}

}  // namespace aimass::service
