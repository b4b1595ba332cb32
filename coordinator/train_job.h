// TrainJob: the coordinator's protocol for one data-parallel training job, written once.
// It neither knows nor cares how the workers were started (launch/worker_launcher.h) or how
// their messages arrive (worker_hub.h), so the same code runs as rank 0 of an MPMD mpirun, as
// the `--workers N` shortcut, and later inside the long-running service.
//
// Message flow (common/aimass.proto):
//   worker -> Hello                      coordinator waits for every rank
//   coordinator -> StartTraining         config, datasets, the worker's test-split share
//   coordinator -> EpochPlan (e, e+1)    one epoch ahead, so workers can prefetch across epochs
//   worker 0 -> StepMetrics              metrics.jsonl and the progress line
//   worker -> CheckpointSaved (0 only), EvalResult (each epoch; triggers the plan for e+2)
//   worker -> TrainingDone               all done: coordinator -> Shutdown
// Failure: a Failure message, a dropped connection, a silent worker (heartbeat time-out) or the
// launcher's processes ending early stops the job with one line naming the rank.
// Not thread-safe: one thread drives a job.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/config/train_config.h"
#include "common/env.h"
#include "common/status.h"
#include "coordinator/launch/worker_launcher.h"
#include "coordinator/progress_reporter.h"
#include "coordinator/worker_hub.h"

namespace aimass::coordinator {

struct TrainJobOptions {
  TrainConfig config;
  std::string config_text;  // kept as run_dir/config.yaml
  bool resume = false;      // continue from the newest valid checkpoint of run_dir
  bool overwrite = false;   // a fresh run may replace an earlier run in run_dir
  std::chrono::seconds worker_start_timeout{120};
  std::function<bool()> interrupted;  // polled; true once the user or mpirun asked us to stop
};

class TrainJob {
 public:
  TrainJob(TrainJobOptions options, Env& env, ProgressReporter& reporter);
  ~TrainJob();

  // Everything that needs no worker: resolves the model, indexes the datasets, checks that
  // their shape fits the model, finds the checkpoint to resume from, prepares the run
  // directory. Bad input fails here, before any worker starts.
  Status Prepare(uint32_t workers);

  // Launches the workers and drives them through every epoch. Returns summary.json's content.
  // On failure the remaining workers have been told to abort; the caller ends them with
  // launcher.Abort() after printing the error.
  Result<boost::json::object> Run(WorkerHub& hub, WorkerLauncher& launcher);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::coordinator
