// InferJob: the coordinator's protocol for one batch-inference job, written once, like TrainJob:
// the same code runs as rank 0 of an MPMD mpirun, as the `--workers N` shortcut, and later in
// the long-running service, because it sees workers only through WorkerHub and WorkerLauncher.
//
// Message flow (common/aimass.proto):
//   worker -> Hello                    coordinator waits for every rank
//   coordinator -> StartInference      model, table description, output options
//   worker -> WorkRequest(n)           room for n more splits (pull-based dispatch)
//   coordinator -> SplitAssignment     one attempt at one split
//   worker -> SplitDone | SplitFailed  the coordinator commits (output_committer.h) or retries
//   coordinator -> Shutdown            once every split is committed and _SUCCESS is written
// A lost worker (closed connection, silence, a Failure) costs only its running attempts, which
// are retried elsewhere; the job fails when a split exhausts its attempts, a bad record meets
// on_bad_record: fail, or no worker is left.
// Not thread-safe: one thread drives a job.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/config/infer_config.h"
#include "common/env.h"
#include "common/status.h"
#include "coordinator/launch/worker_launcher.h"
#include "coordinator/progress_reporter.h"
#include "coordinator/worker_hub.h"

namespace aimass::coordinator {

struct InferJobOptions {
  InferConfig config;
  bool overwrite = false;  // replace an output directory that holds something else
  std::chrono::seconds worker_start_timeout{120};
  std::function<bool()> interrupted;  // polled; true once the user or mpirun asked us to stop
};

class InferJob {
 public:
  InferJob(InferJobOptions options, Env& env, ProgressReporter& reporter);
  ~InferJob();

  // Everything that needs no worker: resolves the model and its digest, lists the input and
  // plans its splits, claims the output directory (resuming the same job's committed splits).
  // Bad input fails here, before any worker starts.
  Status Prepare(uint32_t workers);

  // True after Prepare when the output already holds this job's complete result.
  bool already_complete() const;

  // Launches the workers and runs every split to commit. Returns the manifest (_SUCCESS).
  Result<boost::json::object> Run(WorkerHub& hub, WorkerLauncher& launcher);

  // The manifest of a complete output found by Prepare.
  boost::json::object existing_manifest() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::coordinator
