// Starting a child process the coordinator supervises (mpirun for a job, a serving replica),
// the one way both are started:
//   - in a process group of its own, so that it and everything it starts are signalled
//     together (and a crashed coordinator's leftovers are found by group, process_tree.h);
//   - with an empty signal mask: a service blocks SIGTERM in its threads to sigwait for it,
//     and a child would inherit that and ignore the signal that ends it;
//   - with this process's environment, edited for the child only (setenv would race with the
//     other threads of a long-running process);
//   - with descriptors 0, 1 and 2 only: every other one is closed in the child before it runs
//     (close_range, or a walk over /proc/self/fd where that system call is missing or refused).
//     Every descriptor the service opens is close-on-exec as well; this is the guarantee that
//     holds even for one that is not (a library's, a test's): a child that inherited the API's
//     listening socket or a job's log would keep them open after this process is gone.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::coordinator {

struct SpawnOptions {
  std::string program;              // a path; or a name looked up on PATH when search_path
  bool search_path = false;
  std::vector<std::string> args;    // the argv, args[0] included
  // NAME=VALUE entries: `set` replaces an inherited NAME, `defaults` apply only when NAME is
  // not inherited.
  std::vector<std::string> set_environment;
  std::vector<std::string> default_environment;
  // Non-empty: stdin is /dev/null and stdout and stderr are appended to this file (created
  // 0600). Empty: the child shares this process's descriptors.
  std::string log_path;
};

// The child's pid; kUnavailable with posix_spawn's reason when it cannot be started (also when
// the descriptors above 2 cannot be closed: /proc not mounted and close_range refused).
[[nodiscard]] Result<pid_t> SpawnProcessGroup(const SpawnOptions& options);

}  // namespace aimass::coordinator
