#include "coordinator/service/monitor/monitored_observer.h"

namespace aimass::service {

MonitoredObserver::MonitoredObserver(const MonitorConfig& config, coordinator::JobObserver& inner)
    : inner_(inner), sink_(inner), monitor_(config, MonitoredJob{}, sink_, 0.0) {}

double MonitoredObserver::Seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void MonitoredObserver::OnWorkerJoined(const coordinator::WorkerJoined& joined) { inner_.OnWorkerJoined(joined); }

void MonitoredObserver::OnWorkerLost(const coordinator::WorkerLost& lost) { inner_.OnWorkerLost(lost); }

void MonitoredObserver::OnStepMetrics(const coordinator::StepReport& step) {
  inner_.OnStepMetrics(step);
  monitor_.OnStep(step, Seconds());
}

void MonitoredObserver::OnProgress(const coordinator::TrainProgress& progress) {
  inner_.OnProgress(progress);
  monitor_.Check(Seconds());
}

void MonitoredObserver::OnProgress(const coordinator::InferProgress& progress) { inner_.OnProgress(progress); }

void MonitoredObserver::OnEvaluation(const coordinator::EpochEvaluation& evaluation) {
  inner_.OnEvaluation(evaluation);
  monitor_.OnEvaluation(evaluation, Seconds());
}

void MonitoredObserver::OnSplitCommitted(const coordinator::SplitCommitted& split) { inner_.OnSplitCommitted(split); }

void MonitoredObserver::OnInfo(const std::string& line) {
  inner_.OnInfo(line);
  monitor_.Check(Seconds());
}

void MonitoredObserver::OnFinished(const coordinator::TrainSummary& summary) {
  monitor_.OnFinished();
  inner_.OnFinished(summary);
}

void MonitoredObserver::OnFinished(const coordinator::InferSummary& summary) { inner_.OnFinished(summary); }

void MonitoredObserver::OnFailed(const Status& error) {
  monitor_.OnFailed(error);  // the warning comes before the failure's own line
  inner_.OnFailed(error);
}

}  // namespace aimass::service
