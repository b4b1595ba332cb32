#include "coordinator/launch/local_mpirun_launcher.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/env.h"
#include "common/net/handshake.h"
#include "coordinator/launch/process_tree.h"
#include "coordinator/launch/spawn_process.h"


namespace aimass::coordinator {
namespace {

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "mpirun exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "mpirun was killed by signal " + std::to_string(WTERMSIG(status));
  return "mpirun ended";
}

}  // namespace

std::string ExecutableDirectory() {
  char path[4096] = {};
  ssize_t length = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (length <= 0) return ".";
  std::string executable(path, static_cast<size_t>(length));
  return executable.substr(0, executable.find_last_of('/'));
}

LocalMpirunLauncher::~LocalMpirunLauncher() {
  if (mpirun_pid_ > 0 && !exit_description_) Abort();
}

Status LocalMpirunLauncher::Launch(const CoordinatorContact& contact) {
  std::string worker = options_.worker_binary.empty() ? ExecutableDirectory() + "/aimass-worker"
                                                      : options_.worker_binary;
  if (::access(worker.c_str(), X_OK) != 0) {
    return Status::Error(worker + ": worker executable not found or not executable");
  }
  std::vector<std::string> args = {"mpirun", "--oversubscribe", "--bind-to", "none",
                                   "-np", std::to_string(options_.workers)};
  if (::geteuid() == 0) args.insert(args.begin() + 1, "--allow-run-as-root");
  args.insert(args.end(), options_.mpirun_args.begin(), options_.mpirun_args.end());
  // `-x NAME` forwards the variable's value from mpirun's environment to every worker, on
  // other hosts as well; only its name is on the command line.
  args.insert(args.end(), {"-x", net::kJobSecretEnvironmentVariable});
  args.insert(args.end(), {worker, "--coordinator", contact.address, "--job-id", contact.job_id});

  SpawnOptions spawn;
  spawn.program = "mpirun";
  spawn.search_path = true;
  spawn.args = std::move(args);
  // The job's secret replaces another job's the service may have inherited.
  spawn.set_environment = {std::string(net::kJobSecretEnvironmentVariable) + "=" + net::ToHex(contact.secret)};
  // Containers often forbid the cross-memory attach that OpenMPI's shared-memory transport
  // tries first; copying through the shared segment works everywhere. A user's own setting wins.
  spawn.default_environment = {"OMPI_MCA_btl_vader_single_copy_mechanism=none"};
  auto spawned = SpawnProcessGroup(spawn);
  if (!spawned.ok()) {
    mpirun_pid_ = -1;
    return Status::Error(spawned.status().message() + " (is openmpi-bin installed? run scripts/setup.sh)");
  }
  mpirun_pid_ = *spawned;
  if (options_.on_launched) options_.on_launched(mpirun_pid_);
  return Status::Ok();
}

bool LocalMpirunLauncher::workers_on_this_host() const {
  for (const std::string& arg : options_.mpirun_args) {
    for (const char* names_hosts : {"-H", "--host", "-host", "--hostfile", "-hostfile",
                                    "--machinefile", "-machinefile", "--default-hostfile"}) {
      if (arg == names_hosts || arg.rfind(std::string(names_hosts) + "=", 0) == 0) return false;
    }
  }
  return true;
}

bool LocalMpirunLauncher::OwnsProcess(const std::string& host, uint32_t pid) const {
  if (mpirun_pid_ <= 0 || exit_description_ || pid == 0 || host != LocalHostName()) return false;
  return IsDescendantOf(static_cast<pid_t>(pid), mpirun_pid_);
}

std::optional<std::string> LocalMpirunLauncher::Reap(bool block) {
  if (exit_description_ || mpirun_pid_ <= 0) return exit_description_;
  int status = 0;
  pid_t reaped = ::waitpid(mpirun_pid_, &status, block ? 0 : WNOHANG);
  if (reaped == mpirun_pid_) exit_description_ = DescribeWaitStatus(status);
  return exit_description_;
}

std::optional<std::string> LocalMpirunLauncher::CheckExited() { return Reap(false); }

Status LocalMpirunLauncher::WaitForExit(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto ended = Reap(false)) {
      if (*ended == "mpirun exited with status 0") return Status::Ok();
      return Status::Error(*ended);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Abort();
  return Status::Error("workers did not exit within " + std::to_string(timeout.count()) + " s");
}

void LocalMpirunLauncher::Abort() {
  if (mpirun_pid_ <= 0) return;
  // Open MPI gives every worker a process group of its own: signalling mpirun's group reaches
  // mpirun only. The workers are found as mpirun's descendants while it runs (twice: some may
  // have started between the looks) and ended by pid and start time once it is gone.
  std::vector<ProcessIdentity> family = LiveDescendantsOf(mpirun_pid_);
  if (!Reap(false)) {
    // mpirun forwards SIGTERM to its workers and exits once they have.
    ::kill(-mpirun_pid_, SIGTERM);
    for (int i = 0; i < 100 && !Reap(false); ++i) {
      if (i == 0) {
        for (const ProcessIdentity& late : LiveDescendantsOf(mpirun_pid_)) family.push_back(late);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // Whatever is left goes now: a stopped worker cannot act on SIGTERM, and mpirun may have
  // exited without it.
  ::kill(-mpirun_pid_, SIGKILL);
  for (const ProcessIdentity& process : family) {
    if (StillRunning(process)) ::kill(process.pid, SIGKILL);
  }
  Reap(true);
  // SIGKILL is delivered, not awaited: a worker in the middle of a page fault or a disk read
  // dies a moment later. Callers (a service's cancel, a restart) are told the workers are gone
  // only once they are.
  auto any_left = [&] {
    if (GroupHasLiveProcesses(mpirun_pid_)) return true;
    return std::any_of(family.begin(), family.end(), [](const ProcessIdentity& process) {
      return StillRunning(process);
    });
  };
  for (int i = 0; i < 250 && any_left(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace aimass::coordinator
