// TrainJob: the coordinator's protocol for one data-parallel training job, written once.
// It neither knows nor cares how the workers were started (launch/worker_launcher.h) or how
// their messages arrive (worker_hub.h), so the same code runs as rank 0 of an MPMD mpirun, as
// the `--workers N` shortcut, and inside a long-running service.
//
// Message flow (common/aimass.proto):
//   worker -> Hello                      coordinator waits for every rank
//   coordinator -> StartTraining         config, datasets, the worker's test-split share
//   coordinator -> EpochPlan (e, e+1)    one epoch ahead, so workers can prefetch across epochs
//   worker 0 -> StepMetrics              metrics.jsonl and the progress line
//   worker -> CheckpointSaved (0 only), EvalResult (each epoch; triggers the plan for e+2)
//   worker -> TrainingDone               all done: coordinator -> Shutdown
// A lost worker (Failure message, dropped connection, silence) fails the job with one line
// naming the rank: the others wait for it in every allreduce. The error's code says whether a
// fresh launch may get further (train_supervisor.h restarts on kUnavailable):
//   dropped connection, silence, a stuck worker, a worker's own error   kUnavailable
//   a worker's permanent failure (Failure.permanent: bad data, NaN)     kFailedPrecondition
// Liveness, Hello, abort and release are the JobDriver's (job_driver.h); this class is the
// training logic it drives.
// Not thread-safe: one thread drives a job.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/env.h"
#include "common/status.h"
#include "coordinator/driven_job.h"
#include "coordinator/job_observer.h"
#include "coordinator/job_summary.h"

namespace aimass::coordinator {

struct TrainJobOptions {
  TrainConfig config;
  std::string config_text;  // kept as run_dir/config.yaml
  bool resume = false;      // continue from the newest valid checkpoint of run_dir
  bool overwrite = false;   // a fresh run may replace an earlier run in run_dir
};

class TrainJob final : public DrivenJob {
 public:
  // `env` and `observer` must outlive the job.
  TrainJob(TrainJobOptions options, Env& env, JobObserver& observer);
  ~TrainJob() override;

  // Everything that needs no worker: resolves the model, indexes the datasets, checks that
  // their shape fits the model, finds the checkpoint to resume from, prepares the run
  // directory. Bad input fails here, before any worker starts.
  Status Prepare(uint32_t workers);

  // After JobDriver::Run succeeded: the figures summary.json was written from.
  const TrainSummary& summary() const;

  // After Prepare: the step of the checkpoint this job resumes from; none for a fresh start.
  std::optional<uint64_t> resume_step() const;

  // The restarts that came before this attempt (train_supervisor.h), for summary.json.
  void RecordRestarts(std::vector<TrainRestart> restarts);

  // DrivenJob, for the JobDriver.
  JobTraits traits() const override;
  Status Start(JobContext& context) override;
  Status OnMessage(JobContext& context, uint32_t rank, const proto::WorkerMessage& message) override;
  Status OnWorkerLost(JobContext& context, uint32_t rank, const WorkerLoss& loss) override;
  bool finished() const override;
  Status Finish(JobContext& context) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::coordinator
