// The service's JobObserver for one job: the job's log file gets what the CLI would print (a
// ConsoleObserver writes it), its step metrics, evaluations and committed splits go to the
// store (GET /jobs/{id}/metrics), its latest progress to the live state the API reads, and its
// throughput to the Prometheus gauges. Called on the job's thread only (job_observer.h).
// A train job's recorder also feeds the training monitor (monitor/training_monitor.h), which a
// thread of the recorder's own checks every second for a stall between reports.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "coordinator/console_observer.h"
#include "coordinator/job_observer.h"
#include "coordinator/service/monitor/alert_sink.h"
#include "coordinator/service/monitor/training_monitor.h"
#include "coordinator/service/service_metrics.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// What the API shows of a running job beyond the store: its progress, and the request to stop.
struct LiveJob {
  std::mutex mutex;
  std::string progress_json;  // "" until the first report; guarded by mutex
  std::string cancel_reason;  // guarded by mutex
  std::atomic<bool> cancel{false};

  void RequestCancel(const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (cancel_reason.empty()) cancel_reason = reason;
    }
    cancel = true;
  }
};

class JobRecorder final : public coordinator::JobObserver {
 public:
  // `log` (line-buffered, owned by the caller), `store`, `metrics` and `live` outlive this.
  JobRecorder(int64_t job_id, std::string kind, std::FILE* log, SharedStore& store,
              ServiceMetrics& metrics, LiveJob& live);
  ~JobRecorder() override;  // stops the monitor's thread

  // Watches the job with a training monitor from now on: its alerts (for `model`, the name
  // it registers as, if any) go to `alerts`, which outlives this recorder.
  void Monitor(const MonitorConfig& config, const std::string& model, AlertSink& alerts);

  void OnWorkerJoined(const coordinator::WorkerJoined& joined) override { console_.OnWorkerJoined(joined); }
  void OnWorkerLost(const coordinator::WorkerLost& lost) override { console_.OnWorkerLost(lost); }
  void OnStepMetrics(const coordinator::StepReport& step) override;
  void OnProgress(const coordinator::TrainProgress& progress) override;
  void OnProgress(const coordinator::InferProgress& progress) override;
  void OnEvaluation(const coordinator::EpochEvaluation& evaluation) override;
  void OnSplitCommitted(const coordinator::SplitCommitted& split) override;
  void OnInfo(const std::string& line) override { console_.OnInfo(line); }
  void OnFinished(const coordinator::TrainSummary& summary) override;
  void OnFinished(const coordinator::InferSummary& summary) override { console_.OnFinished(summary); }
  void OnFailed(const Status& error) override;

 private:
  void Append(const char* kind, const std::string& body);
  double Seconds() const;
  void Watch();

  int64_t job_id_;
  std::string kind_;
  coordinator::ConsoleObserver console_;
  SharedStore& store_;
  ServiceMetrics& metrics_;
  LiveJob& live_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  std::mutex monitor_mutex_;  // the monitor is fed by the job's thread and checked by watch_
  std::unique_ptr<TrainingMonitor> monitor_;  // guarded by monitor_mutex_; null: not watched
  bool stopping_ = false;                     // guarded by monitor_mutex_
  std::condition_variable stop_;
  std::thread watch_;
};

}  // namespace aimass::service
