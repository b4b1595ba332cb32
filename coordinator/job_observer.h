// JobObserver: how a job tells the world what happens, without knowing who listens. The CLI's
// console (console_observer.h) is one observer; a long-running service adds its own (a store, a
// live UI) with no change to job code. The run directory and the inference output are the jobs'
// own products and are written by the jobs, not by observers.
//
// Contract: the driver and the job call an observer on the job's driving thread, in the order
// things happen, and never concurrently for one job. An observer shared by jobs that run at the
// same time (one per thread) must synchronise itself. Calls must return quickly and not throw;
// an observer cannot fail or steer the job. Every method does nothing unless overridden.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/job_summary.h"

namespace aimass::coordinator {

struct WorkerJoined {
  uint32_t rank = 0;
  std::string host;
  uint32_t pid = 0;
  std::string device;
};

struct WorkerLost {
  uint32_t rank = 0;
  std::string worker;  // "worker rank 1 (host h, pid 42)"
  std::string reason;  // "disconnected: connection closed", "sent nothing for 60 s (...)"
  bool job_goes_on = false;  // inference carries on with the others; training fails
};

// Worker 0's report of one logged training step (a line of metrics.jsonl).
struct StepReport {
  uint64_t step = 0;
  uint32_t epoch = 0;  // 0-based
  uint64_t step_in_epoch = 0;
  double loss = 0;
  double accuracy = 0;
  double lr = 0;
  double samples_per_second = 0;
  double data_wait_seconds = 0;
  double forward_seconds = 0;
  double backward_seconds = 0;
  double communication_seconds = 0;
  double optimizer_seconds = 0;
  double compute_seconds = 0;
  double elapsed_seconds = 0;  // since the job started
  uint64_t skipped_steps = 0;  // steps on_nonfinite: skip_step dropped so far (this run)
};

// Where a training job stands, for a progress line.
struct TrainProgress {
  uint32_t epoch = 0;  // 0-based
  uint32_t epochs = 0;
  uint64_t step_in_epoch = 0;
  uint64_t steps_per_epoch = 0;
  double loss = 0;
  double accuracy = 0;
  double samples_per_second = 0;
  double eta_seconds = 0;  // negative: unknown
};

// Where an inference job stands, for a progress line.
struct InferProgress {
  uint32_t splits_committed = 0;
  uint32_t splits_total = 0;
  uint64_t records = 0;  // read so far in this run
  double records_per_second = 0;
  double eta_seconds = 0;  // negative: unknown
};

// One finished epoch; the test figures are absent without a test set.
struct EpochEvaluation {
  uint32_t epoch = 0;  // 1-based
  uint32_t epochs = 0;
  uint64_t step = 0;
  std::optional<double> test_loss;
  std::optional<double> test_accuracy;
  uint64_t test_records = 0;
  double eval_seconds = 0;
  double elapsed_seconds = 0;
  // The test split's confusion matrix summed over the workers: row-major, true class x
  // predicted class, num_classes^2 counts. Empty without a test set or above 1000 classes.
  std::vector<uint64_t> confusion;
};

struct SplitCommitted {
  uint32_t split = 0;
  uint64_t attempt_id = 0;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t bad_records = 0;
  uint32_t splits_committed = 0;  // this run's and earlier runs' together
  uint32_t splits_total = 0;
};

class JobObserver {
 public:
  virtual ~JobObserver() = default;

  virtual void OnWorkerJoined(const WorkerJoined&) {}
  virtual void OnWorkerLost(const WorkerLost&) {}
  virtual void OnStepMetrics(const StepReport&) {}
  virtual void OnProgress(const TrainProgress&) {}
  virtual void OnProgress(const InferProgress&) {}
  virtual void OnEvaluation(const EpochEvaluation&) {}
  virtual void OnSplitCommitted(const SplitCommitted&) {}
  // A line for people: readiness, resume decisions, retries, warnings.
  virtual void OnInfo(const std::string&) {}
  virtual void OnFinished(const TrainSummary&) {}
  virtual void OnFinished(const InferSummary&) {}
  // The job failed with `error` (its code tells a caller what kind of failure: a bad config,
  // an unreachable worker...); its workers have been told to stop and the launcher's processes
  // ended.
  virtual void OnFailed(const Status&) {}
};

}  // namespace aimass::coordinator
