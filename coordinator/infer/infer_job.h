// InferJob: the coordinator's protocol for one batch-inference job, written once, like TrainJob:
// the same code runs as rank 0 of an MPMD mpirun, as the `--workers N` shortcut, and in a
// long-running service, because it sees workers only through the JobDriver.
//
// Message flow (common/aimass.proto):
//   worker -> Hello                    coordinator waits for every rank
//   coordinator -> StartInference      model, table description, output options
//   worker -> WorkRequest(n)           room for n more splits (pull-based dispatch)
//   coordinator -> SplitAssignment     one attempt at one split
//   worker -> SplitDone | SplitFailed  the coordinator commits (output_committer.h) or retries
//   coordinator -> Shutdown            once every split is committed and _SUCCESS is written
// A lost worker (closed connection, silence, a Failure, no progress) costs only its running
// attempts, which are retried elsewhere; the job fails when a split exhausts its attempts, a bad
// record meets on_bad_record: fail, or no worker is left. Liveness, Hello, abort and release are
// the JobDriver's (job_driver.h); this class is the inference logic it drives.
// Not thread-safe: one thread drives a job.
#pragma once

#include <boost/json/object.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/infer_config.h"
#include "common/data/data_profile.h"
#include "common/env.h"
#include "common/status.h"
#include "coordinator/driven_job.h"
#include "coordinator/job_observer.h"
#include "coordinator/job_summary.h"

namespace aimass::coordinator {

struct InferJobOptions {
  InferConfig config;
  bool overwrite = false;  // replace an output directory that holds something else
  // Drift (data_profile.h): the model's training profile's bin edges, one vector per input
  // value, and its number of classes. Workers bin what they score; the counts of committed
  // attempts are added up (drift_counts). Empty: no drift counted.
  std::vector<std::vector<double>> drift_edges;
  uint32_t drift_classes = 0;
};

class InferJob final : public DrivenJob {
 public:
  // `env` and `observer` must outlive the job.
  InferJob(InferJobOptions options, Env& env, JobObserver& observer);
  ~InferJob() override;

  // Everything that needs no worker: resolves the model and its digest, lists the input and
  // plans its splits, claims the output directory (resuming the same job's committed splits).
  // Bad input fails here, before any worker starts.
  Status Prepare(uint32_t workers);

  // True after Prepare when the output already holds this job's complete result.
  bool already_complete() const;

  // The manifest (_SUCCESS): the one this run committed once JobDriver::Run succeeded, or the
  // complete output's that Prepare found.
  boost::json::object manifest() const;
  // The same as a summary; already_complete tells which.
  InferSummary summary() const;
  // The drift counts of the splits this run committed, each exactly once; nullopt when drift
  // was not asked for or the profile does not fit the job's input (said in the log).
  std::optional<data::DriftCounts> drift_counts() const;

  // DrivenJob, for the JobDriver.
  JobTraits traits() const override;
  Status Start(JobContext& context) override;
  Status OnMessage(JobContext& context, uint32_t rank, const proto::WorkerMessage& message) override;
  Status OnWorkerLost(JobContext& context, uint32_t rank, const WorkerLoss& loss) override;
  Status Poll(JobContext& context) override;
  bool finished() const override;
  Status Complete(JobContext& context) override;
  Status Finish(JobContext& context) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::coordinator
