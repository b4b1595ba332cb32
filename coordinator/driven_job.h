// The contract between the JobDriver (job_driver.h), which runs the coordinator's protocol once
// for every kind of job, and the job kinds (TrainJob, InferJob), which supply only their own
// logic. The driver owns the hub, the roster, liveness, Hello, worker loss, abort and release;
// a job decides what to start the workers with, what their messages mean, whether it can go on
// without a lost worker, and when it is finished.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "coordinator/worker_roster.h"

namespace aimass::proto {
class CoordinatorMessage;
class WorkerMessage;
}  // namespace aimass::proto

namespace aimass::coordinator {

// How the driver treats one kind of job; fixed for the job's life.
struct JobTraits {
  std::chrono::milliseconds poll_interval{250};
  std::chrono::seconds heartbeat_timeout{60};
  // Training workers step in lockstep, so one lost worker ends the job; mpirun then signals the
  // coordinator too, and an interrupt first looks for the lost worker to name it. A job that
  // survives a loss (inference) takes an interrupt as just that.
  bool survives_worker_loss = false;
  // The result is final once Complete() succeeded (inference has committed its output): workers
  // that do not leave afterwards are ended with a warning instead of failing the job.
  bool final_before_release = false;
  std::chrono::seconds release_timeout{60};
};

// Why a worker is lost.
struct WorkerLoss {
  enum class Cause { kDisconnected, kFailed, kSilent, kStuck };
  Cause cause = Cause::kDisconnected;
  std::string detail;  // the connection's reason, the worker's Failure message, or the symptom
  // kFailed only: the worker said the same input would fail again (Failure.permanent).
  bool permanent = false;

  // "disconnected: <detail>", "failed: <detail>", or the symptom itself.
  std::string Reason() const {
    if (cause == Cause::kDisconnected) return "disconnected: " + detail;
    if (cause == Cause::kFailed) return "failed: " + detail;
    return detail;
  }
  // A silent or stuck process may still run, and has to be ended for its launcher to finish.
  bool may_still_run() const { return cause == Cause::kSilent || cause == Cause::kStuck; }
};

// What the driver offers a running job. Valid during JobDriver::Run only, on its thread.
class JobContext {
 public:
  virtual ~JobContext() = default;

  virtual const std::string& job_id() const = 0;
  // When the driver began running the job (before the launch): the job's wall clock.
  virtual std::chrono::steady_clock::time_point run_started() const = 0;
  virtual const WorkerRoster& roster() const = 0;
  virtual Status Send(uint32_t rank, const proto::CoordinatorMessage& message) = 0;
  // `rank` is done with the job: its silence and its closed connection are expected from now on.
  virtual void MarkFinished(uint32_t rank) = 0;
  // Writes `rank` off for a reason only the job can see (inference: a stuck worker), as the
  // driver does for a dropped connection; an error when the job cannot go on.
  virtual Status LoseWorker(uint32_t rank, const WorkerLoss& loss) = 0;
  // The error for a message the job does not expect from `rank`.
  virtual Status OutOfPlace(uint32_t rank, const proto::WorkerMessage& message) const = 0;
};

// A job kind. Called by the driver on its thread, in this order: Start once every worker said
// hello; OnMessage / OnWorkerLost / Poll until finished(); Complete; then, once the workers are
// released, Finish. Any error fails the job; the driver then aborts the workers.
class DrivenJob {
 public:
  virtual ~DrivenJob() = default;

  virtual JobTraits traits() const = 0;

  // Every worker has said hello: send each its start message (carrying context.job_id()).
  virtual Status Start(JobContext& context) = 0;

  // A message from a worker that said hello and is not lost; Hello and Failure are the
  // driver's (a Failure is a WorkerLoss).
  virtual Status OnMessage(JobContext& context, uint32_t rank, const proto::WorkerMessage& message) = 0;

  // `rank` is lost (also before Start). An error fails the job with it; Ok: the job goes on
  // without the worker, which the driver then tells to stop and ends if it may still run.
  virtual Status OnWorkerLost(JobContext& context, uint32_t rank, const WorkerLoss& loss) = 0;

  // Each turn of the loop after Start, after any event: dispatch work, report progress, watch
  // what only the job can judge.
  virtual Status Poll(JobContext&) { return Status::Ok(); }

  virtual bool finished() const = 0;

  // All work is done and the workers still connected: make the result final (inference
  // commits its output here).
  virtual Status Complete(JobContext&) { return Status::Ok(); }

  // The workers are released and gone: write the last files, report OnFinished.
  virtual Status Finish(JobContext& context) = 0;
};

}  // namespace aimass::coordinator
