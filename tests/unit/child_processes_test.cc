// What the service's children get and what is left of them after a crash: a child started by
// SpawnProcessGroup holds descriptors 0, 1 and 2 only, whatever this process has open without
// close-on-exec; KillTaggedProcesses returns only once the leftovers it ended are gone, also
// those that a leftover started while it was being ended.
#include "tests/catch.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/launch/spawn_process.h"
#include "coordinator/service/leftover_processes.h"
#include "tests/temp_dir.h"

namespace aimass::service {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// The descriptors `pid` has open, as /proc shows them from outside (the listing itself opens
// none in the process looked at).
std::set<int> OpenDescriptors(pid_t pid) {
  std::set<int> fds;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    fds.insert(std::stoi(entry.path().filename().string()));
  }
  return fds;
}

// Until `pid` runs `program` (its exec is done): before that it is still this process's copy.
bool WaitForExec(pid_t pid, const std::string& program) {
  for (int i = 0; i < 500; ++i) {
    std::error_code error;
    const fs::path exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", error);
    if (!error && exe.filename() == program) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

bool Ended(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string text((std::istreambuf_iterator<char>(status)), std::istreambuf_iterator<char>());
  return text.empty() || text.find("State:\tZ") != std::string::npos;
}

}  // namespace

TEST_CASE("a spawned child holds descriptors 0, 1 and 2 only, whatever this process has open") {
  // Descriptors that are not close-on-exec, as a library or an older part of the process might
  // leave them: a listening socket (the API's port, before the fix) and a pipe.
  const int listening = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listening >= 0);
  REQUIRE(::listen(listening, 1) == 0);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  // A high one too: close_range covers every number, not only the low ones.
  const int high = ::fcntl(pipe_fds[0], F_DUPFD, 900);
  REQUIRE(high >= 900);
  CHECK((::fcntl(listening, F_GETFD) & FD_CLOEXEC) == 0);

  TempDir dir;
  for (bool with_log : {false, true}) {
    INFO("with a log file: " << with_log);
    coordinator::SpawnOptions options;
    options.program = "sleep";
    options.search_path = true;
    options.args = {"sleep", "30"};
    if (with_log) options.log_path = dir.Path("child.log");
    auto pid = coordinator::SpawnProcessGroup(options);
    REQUIRE(pid.ok());
    REQUIRE(WaitForExec(*pid, "sleep"));
    CHECK(OpenDescriptors(*pid) == std::set<int>{0, 1, 2});
    ::kill(*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
  }
  ::close(listening);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ::close(high);
}

TEST_CASE("KillTaggedProcesses returns once the leftovers are gone, those they started meanwhile too") {
  const std::string tag = "svc77-0123456789ab";
  // A leftover that keeps starting tagged children, as mpirun starts workers: whatever it
  // started before it was killed must be found and ended too. (Each child is a shell that
  // loops, so that it keeps its tag rather than exec'ing; its `sleep 1` ends on its own.)
  std::vector<std::string> args = {
      "/bin/sh", "-c", "while :; do sh -c 'while sleep 1; do :; done' \"$0\"-restart-1 & sleep 0.05; done", tag};
  coordinator::SpawnOptions options;
  options.program = args[0];
  options.args = args;
  options.log_path = "/dev/null";
  auto parent = coordinator::SpawnProcessGroup(options);
  REQUIRE(parent.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(FindTaggedProcesses(tag).size() >= 3);

  const auto started = std::chrono::steady_clock::now();
  const int killed = KillTaggedProcesses(tag, std::chrono::seconds(10));
  CHECK(killed >= 3);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  // When it returns, nothing tagged runs any more: gone, or a zombie waiting for its parent.
  CHECK(FindTaggedProcesses(tag).empty());
  CHECK(Ended(*parent));
  ::waitpid(*parent, nullptr, 0);
}

}  // namespace aimass::service
