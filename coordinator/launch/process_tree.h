// Ancestry of local processes, read from /proc: how a launcher tells its own processes from
// any other pid a worker's Hello may name. Linux only; thread-safe (reads /proc only, through
// close-on-exec descriptors).
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

namespace aimass::coordinator {

// The parent of `pid` (field 4 of /proc/PID/stat), or nullopt when it does not exist (ended,
// or not visible from here).
std::optional<pid_t> ParentProcess(pid_t pid);

// True when `ancestor` is a strict ancestor of `pid`: `pid` itself is not its own descendant.
bool IsDescendantOf(pid_t pid, pid_t ancestor);

// The pids /proc shows now.
std::vector<pid_t> ListProcesses();

// A process as it was seen: its pid and its start time (clock ticks after boot), which tell
// it from a later process that reuses the pid.
struct ProcessIdentity {
  pid_t pid = 0;
  unsigned long long start_time = 0;
};

// Every live (not zombie) descendant of `ancestor`, which is not included. Open MPI puts each
// worker it starts in a process group of its own, so a launcher that must end them all finds
// them through their parents, while mpirun still runs.
std::vector<ProcessIdentity> LiveDescendantsOf(pid_t ancestor);

// `pid` with its start time, or nullopt when it does not exist or has ended (a zombie).
std::optional<ProcessIdentity> LiveProcess(pid_t pid);

// True while `process` (the same pid with the same start time) has not ended.
bool StillRunning(const ProcessIdentity& process);

// True while a process of process group `group` has not ended (zombies have ended: they only
// wait for a parent to collect them, which for orphans may never happen in a container).
bool GroupHasLiveProcesses(pid_t group);

}  // namespace aimass::coordinator
