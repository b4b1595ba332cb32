// Starts the workers on this machine with
// `mpirun -np N aimass-worker --coordinator ADDR --job-id ID`, in a
// process group of their own so that Abort can end them all. The job secret goes in mpirun's
// environment only (AIMASS_JOB_SECRET, forwarded with `-x` so a hostfile's other hosts get it
// too), never on the command line, which every user of the host can read. Running as root and running more
// processes than cores are allowed here, so users need not know mpirun's flags for either.
#pragma once

#include <functional>

#include <sys/types.h>

#include <string>
#include <vector>

#include "coordinator/launch/worker_launcher.h"

namespace aimass::coordinator {

struct LocalLaunchOptions {
  uint32_t workers = 2;
  std::string worker_binary;             // empty: aimass-worker beside this executable
  std::vector<std::string> mpirun_args;  // extra arguments, e.g. {"--hostfile", "hosts"}
  // Called with mpirun's pid (also its process group) once it started: a service records it.
  std::function<void(pid_t)> on_launched;
};

class LocalMpirunLauncher final : public WorkerLauncher {
 public:
  explicit LocalMpirunLauncher(LocalLaunchOptions options) : options_(std::move(options)) {}
  ~LocalMpirunLauncher() override;

  uint32_t worker_count() const override { return options_.workers; }
  // Unless the extra mpirun arguments name hosts (--host, -H, --hostfile, ...).
  bool workers_on_this_host() const override;
  // A descendant of the mpirun this launcher started, on this host, while it runs.
  bool OwnsProcess(const std::string& host, uint32_t pid) const override;
  Status Launch(const CoordinatorContact& contact) override;
  void Cancel() override {}
  std::optional<std::string> CheckExited() override;
  Status WaitForExit(std::chrono::seconds timeout) override;
  void Abort() override;

 private:
  std::optional<std::string> Reap(bool block);

  LocalLaunchOptions options_;
  pid_t mpirun_pid_ = -1;
  std::optional<std::string> exit_description_;
};

// The directory of the running executable (to find aimass-worker beside aimass-coordinator).
std::string ExecutableDirectory();

}  // namespace aimass::coordinator
