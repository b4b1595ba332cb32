// The training monitor: watches one train job's step reports and evaluations and raises an
// alert (alert_sink.h) when the run goes wrong in one of three ways, each at most once per job:
//
//   divergence   a non-finite loss, a loss above divergence_factor x the lowest loss so far
//                (after warmup_steps), or a job that failed on a non-finite loss or gradient;
//   overfitting  the test loss rose at overfit_evaluations evaluations in a row while the
//                training loss (the mean of the step losses between two evaluations) fell
//                over the same span;
//   stalled      throughput below stall_fraction x its running median for stall_seconds, or
//                no step report at all for stall_seconds.
//
// Pure logic: time comes in as an argument (seconds on any steady clock), so tests feed
// synthetic sequences. The thresholds are the train config's `monitor:` block (train_config.h,
// docs/training.md). The monitor never steers the job; it only tells.
//
// Thread safety: none; the owner serializes calls (JobRecorder holds a mutex around it).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/status.h"
#include "coordinator/job_observer.h"
#include "coordinator/service/monitor/alert_sink.h"

namespace aimass::service {

// What every alert of one job carries besides its figures.
struct MonitoredJob {
  std::optional<int64_t> job_id;
  std::string model;  // the model it registers as, if any
};

class TrainingMonitor {
 public:
  // Throughput is judged against its median once this many step reports are in.
  static constexpr size_t kMinimumThroughputSamples = 5;
  // The median is taken over the most recent step reports that were not low, at most this many.
  static constexpr size_t kThroughputWindow = 256;
  // A loss is compared with max(running minimum, kLossFloor) x divergence_factor: a loss that
  // reached almost zero is not divergent for rising to 0.001.
  static constexpr double kLossFloor = 0.01;

  // `sink` outlives the monitor. `started_seconds`: when the job started, the time from which
  // silence (no step report) is counted.
  TrainingMonitor(MonitorConfig config, MonitoredJob job, AlertSink& sink, double started_seconds);

  void OnStep(const coordinator::StepReport& step, double now_seconds);
  void OnEvaluation(const coordinator::EpochEvaluation& evaluation, double now_seconds);
  // The job failed: a failure on a non-finite loss or gradient (on_nonfinite: fail) is a
  // divergence. Stops the stall watch.
  void OnFailed(const Status& error);
  // The job ended: nothing more is expected, so silence is no longer a stall.
  void OnFinished() { finished_ = true; }
  // Called periodically (JobRecorder: every second): detects silence and a low throughput
  // that lasted, between step reports.
  void Check(double now_seconds);

  // The kinds raised so far ("divergence", "overfitting", "stalled").
  const std::set<std::string>& raised() const { return raised_; }

 private:
  struct EvaluationPoint {
    double test_loss = 0;
    std::optional<double> train_loss;  // mean step loss since the evaluation before
  };

  void Raise(const std::string& kind, const std::string& subject, const std::string& message,
             const std::string& details_json);
  std::optional<double> ThroughputMedian() const;

  MonitorConfig config_;
  MonitoredJob job_;
  AlertSink& sink_;
  std::set<std::string> raised_;
  bool finished_ = false;

  // divergence
  std::optional<double> min_loss_;
  // overfitting
  double step_loss_sum_ = 0;
  uint64_t step_loss_count_ = 0;
  std::optional<double> last_step_loss_;
  std::vector<EvaluationPoint> evaluations_;
  // stalled
  double last_report_seconds_;
  std::deque<double> throughput_;
  std::optional<double> low_since_seconds_;
  double last_throughput_ = 0;
};

}  // namespace aimass::service
