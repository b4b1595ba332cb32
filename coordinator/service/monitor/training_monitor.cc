#include "coordinator/service/monitor/training_monitor.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace aimass::service {

namespace json = boost::json;

namespace {

std::string Figure(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.4g", value);
  return text;
}

// A non-finite double is not JSON: it is written as its name instead.
json::value Number(double value) {
  if (std::isfinite(value)) return value;
  return json::value(std::isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity"));
}

}  // namespace

TrainingMonitor::TrainingMonitor(MonitorConfig config, MonitoredJob job, AlertSink& sink,
                                 double started_seconds)
    : config_(config), job_(std::move(job)), sink_(sink), last_report_seconds_(started_seconds) {}

void TrainingMonitor::Raise(const std::string& kind, const std::string& subject,
                            const std::string& message, const std::string& details_json) {
  if (!raised_.insert(kind).second) return;  // each kind once per job
  Alert alert;
  alert.kind = kind;
  alert.severity = AlertSeverity::kAlert;
  alert.job_id = job_.job_id;
  alert.model = job_.model;
  alert.subject = subject;
  alert.message = message;
  alert.details_json = details_json;
  sink_.Raise(alert);
}

void TrainingMonitor::OnStep(const coordinator::StepReport& step, double now_seconds) {
  last_report_seconds_ = now_seconds;

  // Divergence.
  if (!std::isfinite(step.loss)) {
    Raise("divergence", "loss",
          "training diverged: the loss is " + Figure(step.loss) + " at step " + std::to_string(step.step),
          json::serialize(json::object{{"step", step.step}, {"epoch", step.epoch}, {"loss", Number(step.loss)},
                                       {"lr", Number(step.lr)}}));
  } else {
    if (step.step >= config_.warmup_steps && min_loss_) {
      const double bound = config_.divergence_factor * std::max(*min_loss_, kLossFloor);
      if (step.loss > bound) {
        Raise("divergence", "loss",
              "training diverged: the loss " + Figure(step.loss) + " at step " + std::to_string(step.step) +
                  " is above " + Figure(config_.divergence_factor) + " x its minimum " + Figure(*min_loss_),
              json::serialize(json::object{{"step", step.step},
                                           {"epoch", step.epoch},
                                           {"loss", step.loss},
                                           {"min_loss", *min_loss_},
                                           {"divergence_factor", config_.divergence_factor},
                                           {"lr", Number(step.lr)}}));
      }
    }
    min_loss_ = min_loss_ ? std::min(*min_loss_, step.loss) : step.loss;
    step_loss_sum_ += step.loss;
    ++step_loss_count_;
    last_step_loss_ = step.loss;
  }

  // Throughput, judged against the median of the reports before this one.
  const double throughput = step.samples_per_second;
  if (std::isfinite(throughput) && throughput >= 0) {
    std::optional<double> median = ThroughputMedian();
    last_throughput_ = throughput;
    if (median && throughput < config_.stall_fraction * *median) {
      // A low report stays out of the median: a long stall would otherwise become the norm
      // it is judged against before stall_seconds passed.
      if (!low_since_seconds_) low_since_seconds_ = now_seconds;
    } else {
      low_since_seconds_.reset();
      throughput_.push_back(throughput);
      if (throughput_.size() > kThroughputWindow) throughput_.pop_front();
    }
  }
  Check(now_seconds);
}

std::optional<double> TrainingMonitor::ThroughputMedian() const {
  if (throughput_.size() < kMinimumThroughputSamples) return std::nullopt;
  std::vector<double> sorted(throughput_.begin(), throughput_.end());
  auto middle = sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2);
  std::nth_element(sorted.begin(), middle, sorted.end());
  return *middle;
}

void TrainingMonitor::OnEvaluation(const coordinator::EpochEvaluation& evaluation, double now_seconds) {
  // An evaluation is a sign of life too: a large test split takes a while between step reports.
  last_report_seconds_ = now_seconds;
  if (!evaluation.test_loss) return;
  EvaluationPoint point;
  point.test_loss = *evaluation.test_loss;
  if (step_loss_count_ > 0) {
    point.train_loss = step_loss_sum_ / static_cast<double>(step_loss_count_);
  } else {
    point.train_loss = last_step_loss_;  // no step report in this epoch: the latest one
  }
  step_loss_sum_ = 0;
  step_loss_count_ = 0;
  evaluations_.push_back(point);

  const size_t span = config_.overfit_evaluations;
  if (evaluations_.size() < span + 1) return;
  const size_t first = evaluations_.size() - 1 - span;
  for (size_t i = first + 1; i < evaluations_.size(); ++i) {
    if (!(evaluations_[i].test_loss > evaluations_[i - 1].test_loss)) return;
  }
  const EvaluationPoint& from = evaluations_[first];
  const EvaluationPoint& to = evaluations_.back();
  if (!from.train_loss || !to.train_loss || !(*to.train_loss < *from.train_loss)) return;
  json::array test_losses;
  for (size_t i = first; i < evaluations_.size(); ++i) test_losses.push_back(Number(evaluations_[i].test_loss));
  Raise("overfitting", "test_loss",
        "over-fitting: the test loss rose at " + std::to_string(span) + " evaluations in a row (" +
            Figure(from.test_loss) + " to " + Figure(to.test_loss) + ") while the training loss fell (" +
            Figure(*from.train_loss) + " to " + Figure(*to.train_loss) + "), epoch " +
            std::to_string(evaluation.epoch),
        json::serialize(json::object{{"epoch", evaluation.epoch},
                                     {"test_losses", test_losses},
                                     {"train_loss_from", Number(*from.train_loss)},
                                     {"train_loss_to", Number(*to.train_loss)},
                                     {"overfit_evaluations", span}}));
}

void TrainingMonitor::OnFailed(const Status& error) {
  finished_ = true;
  // The worker's kNonFinite reaches the coordinator as its code or, relayed, in its message.
  if (error.code() == StatusCode::kNonFinite || error.message().find("non-finite") != std::string::npos) {
    Raise("divergence", "loss", "training diverged: " + error.message(),
          json::serialize(json::object{{"error", error.message()}}));
  }
}

void TrainingMonitor::Check(double now_seconds) {
  if (finished_) return;
  const double silent = now_seconds - last_report_seconds_;
  if (silent >= config_.stall_seconds) {
    Raise("stalled", "throughput",
          "training stalled: no step report for " + Figure(silent) + " s",
          json::serialize(json::object{{"silent_seconds", silent}, {"stall_seconds", config_.stall_seconds}}));
    return;
  }
  if (low_since_seconds_ && now_seconds - *low_since_seconds_ >= config_.stall_seconds) {
    std::optional<double> median = ThroughputMedian();
    Raise("stalled", "throughput",
          "training stalled: throughput " + Figure(last_throughput_) + " samples/s, below " +
              Figure(config_.stall_fraction) + " x its median " + Figure(median.value_or(0)) + " for " +
              Figure(now_seconds - *low_since_seconds_) + " s",
          json::serialize(json::object{{"samples_per_second", last_throughput_},
                                       {"median_samples_per_second", median.value_or(0)},
                                       {"stall_fraction", config_.stall_fraction},
                                       {"low_seconds", now_seconds - *low_since_seconds_}}));
  }
}

}  // namespace aimass::service
