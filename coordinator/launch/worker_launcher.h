// WorkerLauncher: how workers come to exist and how they are torn down; the only part of the
// coordinator that knows how it was started. The job logic drives any launcher the same way:
//   MpiWorldLauncher       the coordinator is one rank of an MPMD mpirun; workers already run.
//   LocalMpirunLauncher    the coordinator starts `mpirun ... aimass-worker` itself (the
//                          `--workers N` shortcut today, the long-running service later).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace aimass::coordinator {

// What a worker needs to join its job: where the coordinator listens ("host[,host...]:port"),
// the job's id, which the worker echoes in its Hello so that a coordinator running several
// jobs refuses a worker of another one, and the job secret (kJobSecretBytes raw bytes,
// common/net/handshake.h) with which it authenticates. A launcher hands the secret only to the
// processes it starts, never on a command line (which `ps` shows to every user).
struct CoordinatorContact {
  std::string address;
  std::string job_id;
  std::string secret = {};  // default-initialised: `{address, job_id}` stays valid (no secret)
};

class WorkerLauncher {
 public:
  virtual ~WorkerLauncher() = default;

  virtual uint32_t worker_count() const = 0;

  // True when every worker runs on this host, so the control plane can listen on loopback
  // only. The default, false, makes the coordinator listen where other hosts can reach it.
  virtual bool workers_on_this_host() const { return false; }

  // True when `pid` on `host` is a process this launcher started (a worker, or a descendant of
  // the mpirun it runs under). The coordinator signals only such processes: the host and pid in
  // a Hello are only the worker's word, and even an authenticated peer must not be able to
  // point SIGKILL at an arbitrary process. The default owns nothing.
  virtual bool OwnsProcess(const std::string& host, uint32_t pid) const {
    (void)host;
    (void)pid;
    return false;
  }

  // Starts or reaches the workers and tells them whom to connect to, for which job.
  virtual Status Launch(const CoordinatorContact& contact) = 0;

  // Instead of Launch, when the job failed before it started: workers that already exist are
  // told to leave quietly.
  virtual void Cancel() = 0;

  // A line saying how the worker processes ended, once they have ended on their own; polled by
  // the job so that a launch that died is reported rather than waited on.
  virtual std::optional<std::string> CheckExited() = 0;

  // After a clean finish: waits for the worker processes to end.
  virtual Status WaitForExit(std::chrono::seconds timeout) = 0;

  // On failure: ends every worker this launcher can end, now. Returns: a launcher never ends
  // this process (an MPMD world, which only MPI_Abort ends as a whole, is the CLI's to end).
  virtual void Abort() = 0;
};

}  // namespace aimass::coordinator
