// Where a submitted job may read and write: the service's --data-root directories. Every path a
// config names is resolved (symlinks, "..", a relative path against the first root) and must
// then lie inside one of them; anything else is refused with kPermissionDenied. This is the
// check MLflow's artifact paths, Ray's job submission and TorchServe's model URLs lacked: a job
// submitted over the network must not name /etc/shadow as its training data or ~/.ssh as its
// output.
//
// A path that does not exist yet (an output directory) is resolved through its deepest existing
// ancestor, so a symlink anywhere on the way is followed before the check. What remains is a
// race: a directory swapped for a symlink between the check and the job's use. The roots are
// meant to be directories only trusted users can change.
//
// Only the named path is confined here. What lies inside a table directory is confined when it
// is listed and opened: the service passes roots() along with the table (TableInputConfig::
// confine_to), and every reader opens through io::OpenForReading (common/io/confined_file.h).
//
// Thread safety: immutable after Create; const methods may be called concurrently.
#pragma once

#include <string>
#include <vector>

#include "common/io/confined_file.h"
#include "common/status.h"

namespace aimass::service {

class DataRoots {
 public:
  // Each root must exist and be a directory; it is kept in resolved form.
  [[nodiscard]] static Result<DataRoots> Create(const std::vector<std::string>& roots);

  // The resolved absolute form of `path` (relative: against the first root) when it lies
  // inside a root; kPermissionDenied naming `key` otherwise.
  [[nodiscard]] Result<std::string> Confine(const std::string& key, const std::string& path) const;

  const std::vector<std::string>& roots() const { return roots_; }

 private:
  std::vector<std::string> roots_;
};

// True when `path` is `root` or lies below it (both already resolved): the one test the
// service and the readers share.
using io::IsInside;

}  // namespace aimass::service
