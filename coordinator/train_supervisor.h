// TrainSupervisor: a training job that survives lost workers (TorchElastic's restart loop, for a
// fixed world size). It runs the job as one JobDriver::Run after another: when an attempt fails
// in a way a fresh launch may get past, its workers are already torn down (the driver's abort and
// launcher.Abort()), so it makes a new launcher, a new TrainJob that resumes from the run
// directory's newest valid checkpoint exactly as `--resume` does (from step 0 when none was
// written yet: the same seed gives the same run), and runs that, up to `max_restarts` times.
//
// Which failures restart, from the failure's StatusCode alone (IsRestartable):
//   kUnavailable          a worker was lost: its connection dropped, it fell silent (hung), it
//                         reported a non-permanent error, or the launcher's processes ended
//                         (train_job.h, job_driver.h)                           -> restart
//   kFailedPrecondition   a worker's permanent failure (Failure.permanent: bad data, non-finite
//                         values): the same input fails again                   -> no restart
//   kCancelled            an interrupt (SIGINT/SIGTERM, a service's cancel)     -> no restart
//   anything else         configuration, data, run directory, protocol errors   -> no restart
// An interrupt is never restarted, whatever the code: `interrupted` is asked before each restart.
//
// Every restart is reported: one OnInfo line, one line in metrics.jsonl
//   {"event":"restart","restart":1,"reason":"...","resumed_from_step":N}
// and the list in summary.json ("restarts", "restart_history"). When the restarts run out, the
// job fails with the last error, saying how many restarts were made. The observer hears OnFailed
// once, for the job's end, not for attempts that were restarted.
//
// The run directory is locked (run_directory.h) from Prepare until the supervisor is destroyed,
// across every attempt, so a second job on it is refused while this one runs or restarts.
//
// Why a launcher factory rather than a relaunchable launcher: each attempt gets a fresh hub port
// and job id, and a launcher holds the state of one launch (the mpirun pid, how it ended); a new
// object per attempt cannot inherit a half-reset state, and a service's launcher (a scheduler
// call) need not know about restarts at all.
//
// A library call like JobDriver::Run: no exit(), no signal handlers, no MPI calls. Not
// thread-safe: one thread runs a supervisor.
#pragma once

#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "coordinator/job_driver.h"
#include "coordinator/job_observer.h"
#include "coordinator/job_summary.h"
#include "coordinator/launch/worker_launcher.h"
#include "coordinator/train_job.h"

namespace aimass::coordinator {

// training.max_restarts when the config does not say, for launch forms that can relaunch.
constexpr uint32_t kDefaultMaxRestarts = 3;

// Makes the launcher of one more attempt (workers not started yet: Launch comes from the driver).
using LauncherFactory = std::function<Result<std::unique_ptr<WorkerLauncher>>()>;

struct TrainSupervisorOptions {
  TrainJobOptions job;      // the first attempt's; restarts resume (never overwrite)
  JobDriverOptions driver;  // each attempt's; a given job_id gets "-restart-N" on restarts
  uint32_t max_restarts = 0;
  LauncherFactory relaunch;  // required when max_restarts > 0
  // Restart k starts restart_backoff x 2^(k-1) after attempt k failed (at most 30 s): a host
  // that is rebooting or a link that flaps gets time to come back instead of the restarts
  // being spent within a second. An interrupt ends the wait.
  std::chrono::milliseconds restart_backoff{1000};
};

// Whether an attempt that failed with `failure` may be restarted (table above).
bool IsRestartable(const Status& failure);

class TrainSupervisor {
 public:
  // `env` and `observer` must outlive the supervisor.
  TrainSupervisor(TrainSupervisorOptions options, Env& env, JobObserver& observer);
  ~TrainSupervisor();
  TrainSupervisor(const TrainSupervisor&) = delete;
  TrainSupervisor& operator=(const TrainSupervisor&) = delete;

  // Locks the run directory and prepares the first attempt (TrainJob::Prepare): bad input, or a
  // run directory another job holds, fails here before any worker starts.
  Status Prepare(uint32_t workers);

  // Runs the first attempt on `launcher` (which must outlive the call), each restart on a
  // launcher from options.relaunch. Ok once an attempt finished; otherwise the final error,
  // already reported to the observer's OnFailed.
  Status Run(WorkerLauncher& launcher);

  // After Run succeeded: the final attempt's figures, restarts included.
  const TrainSummary& summary() const;
  const std::vector<TrainRestart>& restarts() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::coordinator
