// After a crash: the processes a killed server's job left behind (mpirun and its workers keep
// running when their coordinator dies). Each launch's command lines carry the job's tag (the
// driver's job id, `--job-id TAG` or `TAG-restart-N`), a random string no other process has,
// so a restarted server can find them in /proc and end them without trusting a pid that the
// kernel may have handed to someone else since. Linux only.
#pragma once

#include <string>
#include <vector>

namespace aimass::service {

// Pids (other than this process) whose command line has an argument equal to `tag` or
// starting with `tag` + "-restart-".
std::vector<int> FindTaggedProcesses(const std::string& tag);

// SIGKILLs them; returns how many were signalled.
int KillTaggedProcesses(const std::string& tag);

}  // namespace aimass::service
