// Ancestry of local processes, read from /proc: how a launcher tells its own processes from
// any other pid a worker's Hello may name. Linux only; thread-safe (reads /proc only).
#pragma once

#include <sys/types.h>

#include <optional>

namespace aimass::coordinator {

// The parent of `pid` (field 4 of /proc/PID/stat), or nullopt when it does not exist (ended,
// or not visible from here).
std::optional<pid_t> ParentProcess(pid_t pid);

// True when `ancestor` is a strict ancestor of `pid`: `pid` itself is not its own descendant.
bool IsDescendantOf(pid_t pid, pid_t ancestor);

}  // namespace aimass::coordinator
