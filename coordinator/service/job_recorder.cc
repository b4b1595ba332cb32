#include "coordinator/service/job_recorder.h"

#include <boost/json.hpp>

namespace aimass::service {

namespace json = boost::json;

JobRecorder::JobRecorder(int64_t job_id, std::string kind, std::FILE* log, SharedStore& store,
                         ServiceMetrics& metrics, LiveJob& live)
    : job_id_(job_id), kind_(std::move(kind)), console_(log, /*quiet=*/false, /*interactive=*/false),
      store_(store), metrics_(metrics), live_(live) {}

JobRecorder::~JobRecorder() {
  {
    std::lock_guard<std::mutex> lock(monitor_mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (watch_.joinable()) watch_.join();
}

double JobRecorder::Seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void JobRecorder::Monitor(const MonitorConfig& config, const std::string& model, AlertSink& alerts) {
  std::lock_guard<std::mutex> lock(monitor_mutex_);
  if (monitor_) return;
  monitor_ = std::make_unique<TrainingMonitor>(config, MonitoredJob{job_id_, model}, alerts, Seconds());
  watch_ = std::thread([this] { Watch(); });
}

void JobRecorder::Watch() {
  // A stall is silence: nothing calls the recorder, so it looks for itself.
  std::unique_lock<std::mutex> lock(monitor_mutex_);
  while (!stop_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
    monitor_->Check(Seconds());
  }
}

void JobRecorder::OnFinished(const coordinator::TrainSummary& summary) {
  console_.OnFinished(summary);
  std::lock_guard<std::mutex> lock(monitor_mutex_);
  if (monitor_) monitor_->OnFinished();
}

void JobRecorder::OnFailed(const Status& error) {
  console_.OnFailed(error);
  std::lock_guard<std::mutex> lock(monitor_mutex_);
  if (monitor_) monitor_->OnFailed(error);
}

void JobRecorder::Append(const char* kind, const std::string& body) {
  // A metric that cannot be stored is lost to the charts, not a reason to fail the job.
  Status appended = store_.With([&](StateStore& store) {
    return store.AppendJobMetrics(job_id_, {JobMetric{kind, body}});
  });
  if (!appended.ok()) console_.OnInfo("warning: cannot store a metric: " + appended.message());
}

void JobRecorder::OnStepMetrics(const coordinator::StepReport& step) {
  console_.OnStepMetrics(step);
  Append("step", json::serialize(json::object{{"step", step.step},
                                              {"epoch", step.epoch},
                                              {"loss", step.loss},
                                              {"accuracy", step.accuracy},
                                              {"lr", step.lr},
                                              {"samples_per_second", step.samples_per_second},
                                              {"elapsed_seconds", step.elapsed_seconds}}));
  metrics_.SetJobThroughput(job_id_, kind_, step.samples_per_second);
  std::lock_guard<std::mutex> lock(monitor_mutex_);
  if (monitor_) monitor_->OnStep(step, Seconds());
}

void JobRecorder::OnProgress(const coordinator::TrainProgress& progress) {
  console_.OnProgress(progress);
  const double total = static_cast<double>(progress.epochs) * static_cast<double>(progress.steps_per_epoch);
  const double done = static_cast<double>(progress.epoch) * static_cast<double>(progress.steps_per_epoch) +
                      static_cast<double>(progress.step_in_epoch);
  json::object body{{"fraction", total > 0 ? std::min(1.0, done / total) : 0.0},
                    {"epoch", progress.epoch},
                    {"epochs", progress.epochs},
                    {"step_in_epoch", progress.step_in_epoch},
                    {"steps_per_epoch", progress.steps_per_epoch},
                    {"loss", progress.loss},
                    {"accuracy", progress.accuracy},
                    {"samples_per_second", progress.samples_per_second},
                    {"eta_seconds", progress.eta_seconds}};
  std::lock_guard<std::mutex> lock(live_.mutex);
  live_.progress_json = json::serialize(body);
}

void JobRecorder::OnProgress(const coordinator::InferProgress& progress) {
  console_.OnProgress(progress);
  json::object body{{"fraction", progress.splits_total > 0
                                     ? static_cast<double>(progress.splits_committed) / progress.splits_total
                                     : 0.0},
                    {"splits_committed", progress.splits_committed},
                    {"splits_total", progress.splits_total},
                    {"records", progress.records},
                    {"records_per_second", progress.records_per_second},
                    {"eta_seconds", progress.eta_seconds}};
  metrics_.SetJobThroughput(job_id_, kind_, progress.records_per_second);
  std::lock_guard<std::mutex> lock(live_.mutex);
  live_.progress_json = json::serialize(body);
}

void JobRecorder::OnEvaluation(const coordinator::EpochEvaluation& evaluation) {
  console_.OnEvaluation(evaluation);
  auto optional = [](const std::optional<double>& value) {
    return value ? json::value(*value) : json::value(nullptr);
  };
  json::object body{{"epoch", evaluation.epoch},
                    {"step", evaluation.step},
                    {"test_loss", optional(evaluation.test_loss)},
                    {"test_accuracy", optional(evaluation.test_accuracy)},
                    {"test_records", evaluation.test_records},
                    {"elapsed_seconds", evaluation.elapsed_seconds}};
  // The last epoch's confusion matrix is what a registered version's evaluation report is
  // computed from (StoreEvaluationOfJob); earlier epochs' are not kept, so that the store does
  // not grow by a matrix (up to 1000 x 1000) an epoch.
  if (!evaluation.confusion.empty() && evaluation.epoch == evaluation.epochs) {
    body["confusion"] = json::array(evaluation.confusion.begin(), evaluation.confusion.end());
  }
  Append("evaluation", json::serialize(body));
  std::lock_guard<std::mutex> lock(monitor_mutex_);
  if (monitor_) monitor_->OnEvaluation(evaluation, Seconds());
}

void JobRecorder::OnSplitCommitted(const coordinator::SplitCommitted& split) {
  console_.OnSplitCommitted(split);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  Append("split", json::serialize(json::object{{"split", split.split},
                                               {"records_in", split.records_in},
                                               {"records_out", split.records_out},
                                               {"splits_committed", split.splits_committed},
                                               {"splits_total", split.splits_total},
                                               {"elapsed_seconds", elapsed}}));
}

}  // namespace aimass::service
