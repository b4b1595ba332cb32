// JobDriver: the coordinator's side of the protocol, written once for every kind of job
// (Horovod's controller pattern): it starts the job's WorkerHub, launches the workers through a
// WorkerLauncher, waits for every rank's Hello, watches liveness (an interrupt, the launcher's
// processes ending, heartbeat silence, dropped connections, Failure messages), aborts on
// failure and releases the workers at the end. The job kind (a DrivenJob: TrainJob, InferJob)
// supplies only its own logic; what happens is reported to a JobObserver.
//
// It is a library call: no signal handlers, no MPI calls, no exit(). A process may run several
// drivers at once, one per thread, each on its own hub port, job id and job secret; a worker
// whose Hello names another job is refused (one line to the observer, its connection closed)
// without failing this job.
//
// Security (docs/security.md): every job has a fresh 256-bit secret that reaches only the
// workers its launcher starts; the hub lets a connection claim a rank only after it proved it
// holds the secret, and whatever an unauthenticated peer does is one line to the observer, never
// a failure. A second claim of a rank already claimed (live or lost) is refused the same way.
// The driver signals only processes its launcher says it started (WorkerLauncher::OwnsProcess).
//
// Thread safety: Run drives the job on the calling thread; one Run per driver. `interrupted`
// may read state set by other threads (it is polled).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "coordinator/driven_job.h"
#include "coordinator/job_observer.h"
#include "coordinator/launch/worker_launcher.h"

namespace aimass::coordinator {

struct JobDriverOptions {
  std::string job_id;                   // empty: a random one (NewJobId)
  // The hub's listening address and what the workers are told (`--bind`, `--advertise`, a
  // comma-separated list); empty: chosen by ChooseListenAddress (launch/listen_address.h):
  // loopback when the launcher's workers all run on this host.
  std::string bind_address;
  std::string advertise;
  uint16_t port = 0;                    // 0: a free port
  // How long a connection may take to authenticate (tests shorten it).
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  std::chrono::seconds worker_start_timeout{120};
  std::function<bool()> interrupted;  // polled; true once the user, mpirun or a service asks to stop
};

// 16 random hex digits.
std::string NewJobId();

class JobDriver {
 public:
  // `launcher` and `observer` must outlive the driver.
  JobDriver(JobDriverOptions options, WorkerLauncher& launcher, JobObserver& observer);
  ~JobDriver();
  JobDriver(const JobDriver&) = delete;
  JobDriver& operator=(const JobDriver&) = delete;

  const std::string& job_id() const;

  // Runs a prepared `job` to its end: Ok once the job finished, its workers were released and
  // the job's Finish reported its summary. On failure the workers have been told to abort and
  // launcher.Abort() has ended what it can; the observer got OnFailed with the same status.
  // If the hub cannot start, the launcher is cancelled instead (its workers leave quietly).
  Status Run(DrivenJob& job);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::coordinator
