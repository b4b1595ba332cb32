#include "coordinator/console_observer.h"

#include <string>

namespace aimass::coordinator {

void ConsoleObserver::OnProgress(const TrainProgress& progress) {
  char line[256];
  std::snprintf(line, sizeof(line),
                "epoch %u/%u  step %llu/%llu  loss %.4f  acc %.4f  %.0f samples/s  ETA %s",
                progress.epoch + 1, progress.epochs,
                static_cast<unsigned long long>(progress.step_in_epoch),
                static_cast<unsigned long long>(progress.steps_per_epoch), progress.loss,
                progress.accuracy, progress.samples_per_second,
                FormatDuration(progress.eta_seconds).c_str());
  reporter_.ProgressLine(line);
}

void ConsoleObserver::OnProgress(const InferProgress& progress) {
  char line[256];
  std::snprintf(line, sizeof(line), "splits %u/%u  %llu records  %.0f records/s  ETA %s",
                progress.splits_committed, progress.splits_total,
                static_cast<unsigned long long>(progress.records), progress.records_per_second,
                FormatDuration(progress.eta_seconds).c_str());
  reporter_.ProgressLine(line);
}

void ConsoleObserver::OnEvaluation(const EpochEvaluation& evaluation) {
  std::string text = "epoch " + std::to_string(evaluation.epoch) + "/" +
                     std::to_string(evaluation.epochs) + " done";
  if (evaluation.test_loss && evaluation.test_accuracy) {
    char figures[128];
    std::snprintf(figures, sizeof(figures), ": test_loss %.4f  test_accuracy %.4f  (%llu records)",
                  *evaluation.test_loss, *evaluation.test_accuracy,
                  static_cast<unsigned long long>(evaluation.test_records));
    text += figures;
  }
  reporter_.Line(text);
}

void ConsoleObserver::OnInfo(const std::string& line) { reporter_.Line(line); }

void ConsoleObserver::OnFinished(const TrainSummary& summary) {
  // Without a test set there are no test figures to print (not zeros).
  char test[96] = "no test set";
  if (summary.test_accuracy && summary.test_loss) {
    std::snprintf(test, sizeof(test), "test_accuracy %.4f  test_loss %.4f", *summary.test_accuracy,
                  *summary.test_loss);
  }
  char line[512];
  std::snprintf(line, sizeof(line),
                "%s  epochs %u  workers %u  global_batch %llu  %.0f samples/s  wall %s", test,
                summary.epochs, summary.workers,
                static_cast<unsigned long long>(summary.global_batch), summary.samples_per_second,
                FormatDuration(summary.wall_seconds).c_str());
  reporter_.Line(line);
  reporter_.Line("run directory: " + summary.run_dir);
}

void ConsoleObserver::OnFinished(const InferSummary& summary) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "records_in %llu  records_out %llu  bad_records %llu  splits %llu  "
                "failed_attempts %llu  %.0f records/s  wall %s",
                static_cast<unsigned long long>(summary.records_in),
                static_cast<unsigned long long>(summary.records_out),
                static_cast<unsigned long long>(summary.bad_records),
                static_cast<unsigned long long>(summary.splits),
                static_cast<unsigned long long>(summary.failed_attempts), summary.records_per_second,
                FormatDuration(summary.wall_seconds).c_str());
  reporter_.Line(line);
  reporter_.Line("output: " + summary.output_path + " (manifest in _SUCCESS)");
}

}  // namespace aimass::coordinator
