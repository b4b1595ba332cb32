#include "coordinator/launch/process_tree.h"

#include <fstream>
#include <sstream>
#include <string>

namespace aimass::coordinator {

std::optional<pid_t> ParentProcess(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return std::nullopt;
  // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so parse after the last ')'.
  size_t end_of_name = line.rfind(')');
  if (end_of_name == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(end_of_name + 1));
  std::string state;
  long parent = -1;
  if (!(fields >> state >> parent) || parent < 0) return std::nullopt;
  return static_cast<pid_t>(parent);
}

bool IsDescendantOf(pid_t pid, pid_t ancestor) {
  if (pid <= 1 || ancestor <= 0 || pid == ancestor) return false;
  // A process tree is shallow; the bound only guards against a /proc read racing a reparenting.
  for (int depth = 0; depth < 64; ++depth) {
    auto parent = ParentProcess(pid);
    if (!parent || *parent <= 0) return false;
    if (*parent == ancestor) return true;
    if (*parent == 1) return false;
    pid = *parent;
  }
  return false;
}

}  // namespace aimass::coordinator
