#include "coordinator/service/leftover_processes.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "coordinator/launch/process_tree.h"

namespace aimass::service {

std::vector<int> FindTaggedProcesses(const std::string& tag) {
  std::vector<int> pids;
  if (tag.size() < 8) return pids;  // never match on a short (or empty) tag
  for (pid_t pid : coordinator::ListProcesses()) {
    if (pid == ::getpid()) continue;
    std::ifstream file("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
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

int KillTaggedProcesses(const std::string& tag) {
  int killed = 0;
  for (int pid : FindTaggedProcesses(tag)) {
    if (::kill(pid, SIGKILL) == 0) ++killed;
  }
  return killed;
}

}  // namespace aimass::service
