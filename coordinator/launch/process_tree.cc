#include "coordinator/launch/process_tree.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>
#include <string>

namespace aimass::coordinator {
namespace {

// The first line of /proc/PID/stat, read through a close-on-exec descriptor (a std::ifstream's
// is not: a child spawned meanwhile by another thread would inherit it).
std::optional<std::string> StatLine(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[1024];
  ssize_t got = 0;
  while ((got = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(got));
  ::close(fd);
  if (text.empty()) return std::nullopt;
  return text.substr(0, text.find('\n'));
}

}  // namespace

std::optional<pid_t> ParentProcess(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::optional<std::string> text = StatLine(pid);
  if (!text) return std::nullopt;
  const std::string& line = *text;
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

std::vector<pid_t> ListProcesses() {
  std::vector<pid_t> pids;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.size() > 9 ||
        !std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); })) {
      continue;
    }
    pids.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return pids;
}

namespace {

struct ProcStat {
  pid_t pid = 0;
  std::string state;
  pid_t parent = 0;
  pid_t group = 0;
  unsigned long long start_time = 0;
};

// /proc/PID/stat: "PID (COMM) STATE PPID PGRP SESSION TTY TPGID FLAGS MINFLT CMINFLT MAJFLT
// CMAJFLT UTIME STIME CUTIME CSTIME PRIORITY NICE THREADS ITREALVALUE STARTTIME ..."; COMM may
// hold spaces and parentheses, so fields are read after the last ')'.
std::optional<ProcStat> ReadStat(pid_t pid) {
  std::optional<std::string> text = StatLine(pid);
  if (!text) return std::nullopt;
  const std::string& line = *text;
  size_t end_of_name = line.rfind(')');
  if (end_of_name == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(end_of_name + 1));
  ProcStat stat;
  stat.pid = pid;
  long parent = 0, group = 0;
  if (!(fields >> stat.state >> parent >> group)) return std::nullopt;
  std::string skipped;
  for (int field = 6; field < 22; ++field) fields >> skipped;  // SESSION .. ITREALVALUE
  if (!(fields >> stat.start_time)) return std::nullopt;
  stat.parent = static_cast<pid_t>(parent);
  stat.group = static_cast<pid_t>(group);
  return stat;
}

std::vector<ProcStat> AllProcesses() {
  std::vector<ProcStat> processes;
  for (pid_t pid : ListProcesses()) {
    if (auto stat = ReadStat(pid)) processes.push_back(*stat);
  }
  return processes;
}

bool Ended(const std::string& state) { return state == "Z" || state == "X"; }

}  // namespace

bool GroupHasLiveProcesses(pid_t group) {
  if (group <= 1) return false;
  for (const ProcStat& process : AllProcesses()) {
    if (process.group == group && !Ended(process.state)) return true;
  }
  return false;
}

std::vector<ProcessIdentity> LiveDescendantsOf(pid_t ancestor) {
  std::vector<ProcessIdentity> found;
  if (ancestor <= 1) return found;
  const std::vector<ProcStat> processes = AllProcesses();
  std::vector<pid_t> frontier = {ancestor};
  // Breadth-first over parent links; the bound guards against a cycle read mid-reparenting.
  for (size_t next = 0; next < frontier.size() && frontier.size() < 100000; ++next) {
    for (const ProcStat& process : processes) {
      if (process.parent == frontier[next] && process.pid != ancestor && !Ended(process.state)) {
        frontier.push_back(process.pid);
        found.push_back(ProcessIdentity{process.pid, process.start_time});
      }
    }
  }
  return found;
}

std::optional<ProcessIdentity> LiveProcess(pid_t pid) {
  auto stat = ReadStat(pid);
  if (!stat || Ended(stat->state)) return std::nullopt;
  return ProcessIdentity{pid, stat->start_time};
}

bool StillRunning(const ProcessIdentity& process) {
  auto stat = ReadStat(process.pid);
  return stat && stat->start_time == process.start_time && !Ended(stat->state);
}

}  // namespace aimass::coordinator
