// After a crash: the processes a killed server's job left behind (mpirun and its workers keep
// running when their coordinator dies). Each launch's command lines carry the job's tag (the
// driver's job id, `--job-id TAG` or `TAG-restart-N`), a random string no other process has,
// so a restarted server can find them in /proc and end them without trusting a pid that the
// kernel may have handed to someone else since. Linux only.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace aimass::service {

// Pids (other than this process) whose command line has an argument equal to `tag` or
// starting with `tag` + "-restart-".
std::vector<int> FindTaggedProcesses(const std::string& tag);

// SIGKILLs them, and waits until they have ended (a zombie has: its descriptors are closed),
// looking again for tagged processes that one of them started meanwhile, for `wait` at most;
// those still running then are named in a warning on stderr. Returns how many were signalled.
// The wait is what lets the server that recovers take their resources (a port, a GPU's
// memory) right after: a SIGKILL is only delivered, not done, when kill() returns.
int KillTaggedProcesses(const std::string& tag, std::chrono::milliseconds wait = std::chrono::seconds(10));

}  // namespace aimass::service
