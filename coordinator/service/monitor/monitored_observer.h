// The CLI's training monitor: a JobObserver that passes every call on to another (the
// ConsoleObserver) and feeds a TrainingMonitor on the way, whose alerts become warning lines
// of that observer ("aimass: warning: training diverged: ..."). The service does the same in its
// JobRecorder, where alerts also go to the store, /metrics and the webhook.
//
// Without a thread of its own, silence is noticed at the next call that arrives (progress
// lines come every few seconds while workers live).
//
// Thread safety: as JobObserver (one job's thread).
#pragma once

#include <chrono>

#include "common/config/train_config.h"
#include "coordinator/job_observer.h"
#include "coordinator/service/monitor/training_monitor.h"

namespace aimass::service {

class MonitoredObserver final : public coordinator::JobObserver {
 public:
  // `inner` outlives this.
  MonitoredObserver(const MonitorConfig& config, coordinator::JobObserver& inner);

  void OnWorkerJoined(const coordinator::WorkerJoined& joined) override;
  void OnWorkerLost(const coordinator::WorkerLost& lost) override;
  void OnStepMetrics(const coordinator::StepReport& step) override;
  void OnProgress(const coordinator::TrainProgress& progress) override;
  void OnProgress(const coordinator::InferProgress& progress) override;
  void OnEvaluation(const coordinator::EpochEvaluation& evaluation) override;
  void OnSplitCommitted(const coordinator::SplitCommitted& split) override;
  void OnInfo(const std::string& line) override;
  void OnFinished(const coordinator::TrainSummary& summary) override;
  void OnFinished(const coordinator::InferSummary& summary) override;
  void OnFailed(const Status& error) override;

 private:
  class WarningSink final : public AlertSink {
   public:
    explicit WarningSink(coordinator::JobObserver& inner) : inner_(inner) {}
    // The message names what was found ("training diverged: ...", "over-fitting: ...").
    void Raise(const Alert& alert) override { inner_.OnInfo("aimass: warning: " + alert.message); }

   private:
    coordinator::JobObserver& inner_;
  };

  double Seconds() const;

  coordinator::JobObserver& inner_;
  WarningSink sink_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  TrainingMonitor monitor_;
};

}  // namespace aimass::service
