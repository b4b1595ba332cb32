// The training monitor on synthetic sequences: each kind of alert fires when its threshold is
// crossed, fires once per job, respects the warm-up, and a clean run raises nothing.
#include "tests/catch.h"

#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

#include "coordinator/service/monitor/training_monitor.h"

namespace aimass::service {
namespace {

class RecordingSink final : public AlertSink {
 public:
  void Raise(const Alert& alert) override {
    std::lock_guard<std::mutex> lock(mutex_);
    alerts.push_back(alert);
  }
  std::vector<std::string> Kinds() const {
    std::vector<std::string> kinds;
    for (const Alert& alert : alerts) kinds.push_back(alert.kind);
    return kinds;
  }
  std::mutex mutex_;
  std::vector<Alert> alerts;
};

coordinator::StepReport Step(uint64_t step, double loss, double samples_per_second = 1000) {
  coordinator::StepReport report;
  report.step = step;
  report.loss = loss;
  report.samples_per_second = samples_per_second;
  return report;
}

coordinator::EpochEvaluation Evaluation(uint32_t epoch, double test_loss) {
  coordinator::EpochEvaluation evaluation;
  evaluation.epoch = epoch;
  evaluation.epochs = 100;
  evaluation.test_loss = test_loss;
  evaluation.test_accuracy = 0.5;
  return evaluation;
}

MonitorConfig Thresholds() {
  MonitorConfig config;
  config.divergence_factor = 10;
  config.warmup_steps = 10;
  config.overfit_evaluations = 3;
  config.stall_fraction = 0.1;
  config.stall_seconds = 60;
  return config;
}

// A healthy run: the training and test losses fall with noise, throughput steady, an
// evaluation every 10 steps, a step report every second.
void FeedCleanRun(TrainingMonitor& monitor, uint64_t steps, double& now) {
  for (uint64_t step = 1; step <= steps; ++step) {
    const double loss = 2.3 * std::exp(-0.02 * static_cast<double>(step)) + 0.05 * ((step % 3) == 0);
    monitor.OnStep(Step(step, loss, 1000 + 50 * static_cast<double>(step % 4)), now);
    if (step % 10 == 0) {
      monitor.OnEvaluation(Evaluation(static_cast<uint32_t>(step / 10), loss * 1.1 + 0.01 * ((step / 10) % 2)),
                           now);
    }
    monitor.Check(now);
    now += 1;
  }
}

TEST_CASE("a clean run raises nothing", "[monitor]") {
  RecordingSink sink;
  double now = 0;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{7, "fashion"}, sink, now);
  FeedCleanRun(monitor, 300, now);
  monitor.OnFinished();
  monitor.Check(now + 10000);  // silence after the end is no stall
  CHECK(sink.alerts.empty());
}

TEST_CASE("a non-finite loss is a divergence, raised once with the job and model", "[monitor]") {
  RecordingSink sink;
  double now = 0;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{7, "fashion"}, sink, now);
  monitor.OnStep(Step(1, 2.3), now);
  monitor.OnStep(Step(2, std::numeric_limits<double>::quiet_NaN()), now);  // within warm-up too
  monitor.OnStep(Step(3, std::numeric_limits<double>::infinity()), now);
  REQUIRE(sink.alerts.size() == 1);
  const Alert& alert = sink.alerts[0];
  CHECK(alert.kind == "divergence");
  CHECK(alert.severity == AlertSeverity::kAlert);
  CHECK(alert.job_id == std::optional<int64_t>(7));
  CHECK(alert.model == "fashion");
  CHECK(alert.subject == "loss");
  CHECK(alert.message.find("step 2") != std::string::npos);
  CHECK(alert.details_json.find("\"NaN\"") != std::string::npos);  // still JSON
}

TEST_CASE("a loss above k x its running minimum diverges, but not during the warm-up", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{1, ""}, sink, 0);
  monitor.OnStep(Step(1, 2.0), 0);
  monitor.OnStep(Step(2, 0.5), 0);
  monitor.OnStep(Step(5, 30.0), 0);  // 60 x the minimum, within the 10 warm-up steps
  CHECK(sink.alerts.empty());
  monitor.OnStep(Step(10, 4.9), 0);  // below 10 x 0.5
  CHECK(sink.alerts.empty());
  monitor.OnStep(Step(11, 5.1), 0);  // above
  REQUIRE(sink.Kinds() == std::vector<std::string>{"divergence"});
  CHECK(sink.alerts[0].message.find("step 11") != std::string::npos);
  monitor.OnStep(Step(12, 50), 0);
  monitor.OnFailed(Status::NonFinite("training step 13: non-finite loss"));
  CHECK(sink.alerts.size() == 1);  // once per job
}

TEST_CASE("a loss close to zero is compared with the floor, not with itself", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{1, ""}, sink, 0);
  monitor.OnStep(Step(20, 1e-5), 0);
  monitor.OnStep(Step(21, 0.05), 0);  // 5000 x the minimum, but below 10 x kLossFloor
  CHECK(sink.alerts.empty());
  monitor.OnStep(Step(22, 0.2), 0);
  CHECK(sink.Kinds() == std::vector<std::string>{"divergence"});
}

TEST_CASE("a job that failed on a non-finite value raised divergence", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{3, ""}, sink, 0);
  monitor.OnFailed(Status::Error("worker rank 0: training step 9 (epoch 1): non-finite loss (NaN or Inf)"));
  REQUIRE(sink.Kinds() == std::vector<std::string>{"divergence"});
  CHECK(sink.alerts[0].message.find("training step 9") != std::string::npos);

  RecordingSink other;
  TrainingMonitor failed(Thresholds(), MonitoredJob{4, ""}, other, 0);
  failed.OnFailed(Status::Unavailable("worker rank 1 disconnected"));
  CHECK(other.alerts.empty());
}

TEST_CASE("over-fitting: the test loss rises N times in a row while the training loss falls", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{5, "m"}, sink, 0);
  double train = 1.0;
  uint64_t step = 100;
  auto epoch = [&](uint32_t number, double test_loss) {
    for (int i = 0; i < 3; ++i) monitor.OnStep(Step(++step, train), 0);
    train *= 0.8;
    monitor.OnEvaluation(Evaluation(number, test_loss), 0);
  };
  epoch(1, 0.9);
  epoch(2, 0.8);
  epoch(3, 0.85);  // rose once
  epoch(4, 0.84);  // and fell: the count starts over
  epoch(5, 0.86);
  epoch(6, 0.90);
  CHECK(sink.alerts.empty());  // two rises in a row only
  epoch(7, 0.95);
  REQUIRE(sink.Kinds() == std::vector<std::string>{"overfitting"});
  CHECK(sink.alerts[0].subject == "test_loss");
  CHECK(sink.alerts[0].message.find("epoch 7") != std::string::npos);
  epoch(8, 1.2);
  epoch(9, 1.5);
  CHECK(sink.alerts.size() == 1);
}

TEST_CASE("a rising test loss with a rising training loss is not over-fitting", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{5, ""}, sink, 0);
  uint64_t step = 100;
  for (uint32_t number = 1; number <= 6; ++number) {
    monitor.OnStep(Step(++step, 0.5 + 0.01 * number), 0);
    monitor.OnEvaluation(Evaluation(number, 0.5 + 0.1 * number), 0);
  }
  CHECK(sink.alerts.empty());
}

TEST_CASE("stalled: no step report for stall_seconds", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{6, ""}, sink, 100);
  monitor.Check(159);
  CHECK(sink.alerts.empty());
  monitor.OnStep(Step(1, 2.0), 150);
  monitor.Check(209);
  CHECK(sink.alerts.empty());
  monitor.Check(210);
  REQUIRE(sink.Kinds() == std::vector<std::string>{"stalled"});
  CHECK(sink.alerts[0].message.find("no step report") != std::string::npos);
  monitor.Check(1000);
  CHECK(sink.alerts.size() == 1);
}

TEST_CASE("stalled: throughput below a fraction of its median for stall_seconds", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{6, ""}, sink, 0);
  double now = 0;
  for (uint64_t step = 1; step <= 20; ++step, now += 1) monitor.OnStep(Step(step, 1.0, 1000), now);
  // A short dip is not a stall.
  for (uint64_t step = 21; step <= 40; ++step, now += 2) monitor.OnStep(Step(step, 1.0, 50), now);
  monitor.OnStep(Step(41, 1.0, 1000), now);
  CHECK(sink.alerts.empty());
  // A dip that lasts is.
  for (uint64_t step = 42; step <= 80 && sink.alerts.empty(); ++step, now += 2) {
    monitor.OnStep(Step(step, 1.0, 50), now);
  }
  REQUIRE(sink.Kinds() == std::vector<std::string>{"stalled"});
  CHECK(sink.alerts[0].message.find("below 0.1 x its median 1000") != std::string::npos);
}

TEST_CASE("every kind of one job is raised once, and each kind independently", "[monitor]") {
  RecordingSink sink;
  TrainingMonitor monitor(Thresholds(), MonitoredJob{8, ""}, sink, 0);
  monitor.OnStep(Step(1, std::nan("")), 0);
  monitor.Check(61);
  monitor.Check(200);
  for (uint32_t number = 1; number <= 5; ++number) {
    monitor.OnStep(Step(100 + number, 1.0 / number), 300);
    monitor.OnEvaluation(Evaluation(number, number), 300);
  }
  CHECK(sink.Kinds() == std::vector<std::string>{"divergence", "stalled", "overfitting"});
  CHECK(monitor.raised().size() == 3);
}

}  // namespace
}  // namespace aimass::service
