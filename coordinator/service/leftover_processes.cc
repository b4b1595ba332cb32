#include "coordinator/service/leftover_processes.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <thread>
#include <utility>

#include "coordinator/launch/process_tree.h"

namespace aimass::service {
namespace {

// /proc/PID/cmdline through a close-on-exec descriptor; empty for a zombie or a gone process.
std::string CommandLine(int pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(got));
  ::close(fd);
  return text;
}

}  // namespace

std::vector<int> FindTaggedProcesses(const std::string& tag) {
  std::vector<int> pids;
  if (tag.size() < 8) return pids;  // never match on a short (or empty) tag
  for (pid_t pid : coordinator::ListProcesses()) {
    if (pid == ::getpid()) continue;
    const std::string cmdline = CommandLine(pid);
    size_t start = 0;
    while (start < cmdline.size()) {
      size_t end = cmdline.find('\0', start);
      if (end == std::string::npos) end = cmdline.size();
      const std::string argument = cmdline.substr(start, end - start);
      if (argument == tag || argument.rfind(tag + "-restart-", 0) == 0) {
        pids.push_back(pid);
        break;
      }
      start = end + 1;
    }
  }
  return pids;
}

int KillTaggedProcesses(const std::string& tag, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  int killed = 0;
  std::set<std::pair<int, unsigned long long>> seen;  // (pid, start time): signalled or tried
  std::vector<coordinator::ProcessIdentity> dying;
  while (true) {
    bool found_new = false;
    for (int pid : FindTaggedProcesses(tag)) {
      auto process = coordinator::LiveProcess(pid);
      if (!process || !seen.insert({pid, process->start_time}).second) continue;
      found_new = true;
      if (::kill(pid, SIGKILL) == 0) {
        ++killed;
        dying.push_back(*process);
      }
    }
    dying.erase(std::remove_if(dying.begin(), dying.end(),
                               [](const coordinator::ProcessIdentity& process) {
                                 return !coordinator::StillRunning(process);
                               }),
                dying.end());
    // Done when the last look found nobody new and everyone signalled has ended.
    if (!found_new && dying.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!dying.empty()) {
        std::fprintf(stderr, "aimass: warning: %zu leftover processes of %s still running %lld ms after SIGKILL\n",
                     dying.size(), tag.c_str(), static_cast<long long>(wait.count()));
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return killed;
}

}  // namespace aimass::service
