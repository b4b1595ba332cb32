#include "coordinator/launch/local_mpirun_launcher.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/env.h"
#include "common/net/handshake.h"
#include "coordinator/launch/process_tree.h"

extern char** environ;

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

  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // Containers often forbid the cross-memory attach that OpenMPI's shared-memory transport
  // tries first; copying through the shared segment works everywhere. Set for the child only:
  // setenv would race with other jobs' threads of a long-running process.
  const std::string kSingleCopy = "OMPI_MCA_btl_vader_single_copy_mechanism=";
  const std::string kSecret = std::string(net::kJobSecretEnvironmentVariable) + "=";
  std::vector<std::string> environment;
  bool single_copy_set = false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string variable = *entry;
    if (variable.rfind(kSecret, 0) == 0) continue;  // another job's: this job's goes in below
    single_copy_set |= variable.rfind(kSingleCopy, 0) == 0;
    environment.push_back(std::move(variable));
  }
  if (!single_copy_set) environment.push_back(kSingleCopy + "none");
  environment.push_back(kSecret + net::ToHex(contact.secret));
  std::vector<char*> envp;
  for (auto& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // A fresh signal mask: a service blocks SIGTERM in its threads (to sigwait for it), and a
  // child would inherit that and ignore the Abort that ends it.
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  int error = ::posix_spawnp(&mpirun_pid_, "mpirun", nullptr, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    mpirun_pid_ = -1;
    return Status::Error(std::string("cannot start mpirun: ") + std::strerror(error) +
                         " (is openmpi-bin installed? run scripts/setup.sh)");
  }
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
