// ConsoleObserver: the CLI's view of a job, the lines `aimass-coordinator` prints on stdout:
// progress, epoch results, info lines and the summary. Errors are the CLI's own (one line on
// stderr, commands.cc). Not thread-safe: observes one job at a time.
#pragma once

#include <cstdio>

#include "coordinator/job_observer.h"
#include "coordinator/progress_reporter.h"

namespace aimass::coordinator {

class ConsoleObserver final : public JobObserver {
 public:
  // As ProgressReporter: `quiet` drops the progress line only; `interactive` lets it rewrite
  // itself on a terminal.
  explicit ConsoleObserver(std::FILE* out = stdout, bool quiet = false, bool interactive = true)
      : reporter_(out, quiet, interactive) {}

  void OnProgress(const TrainProgress& progress) override;
  void OnProgress(const InferProgress& progress) override;
  void OnEvaluation(const EpochEvaluation& evaluation) override;
  void OnInfo(const std::string& line) override;
  void OnFinished(const TrainSummary& summary) override;
  void OnFinished(const InferSummary& summary) override;

 private:
  ProgressReporter reporter_;
};

}  // namespace aimass::coordinator
