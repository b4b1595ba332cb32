// Opening a job's input files for reading, confined to the server's data roots.
//
// The service confines every path a submitted config names (coordinator/service/data_roots.h),
// but a table is a directory: what lies inside it is whatever its writer put there, a symbolic
// link to /etc/shadow included. So the check is repeated for every file a job, a worker or the
// dataset profiler opens, on the object actually opened: the path of the open descriptor
// (/proc/self/fd/N) must lie inside a root. Checking the descriptor, not the name, leaves no
// window between check and use for a link swapped in between.
//
// Why not openat2(RESOLVE_BENEATH): it confines to one directory descriptor, refuses absolute
// symbolic links even when they point inside that directory, and needs Linux 5.6 and a libc
// wrapper. A table may live under any of several roots and exports do hold absolute links
// between directories of the same root; the descriptor check accepts those and refuses exactly
// what ends outside.
//
// A refusal names the file as the table names it (its relative path), never where it resolves:
// the message reaches whoever submitted the job, and the resolved path would tell them about
// the server's file system outside the roots.
//
// Thread safety: free functions without shared state.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::io {

// True when `path` is `root` or lies below it (both absolute and resolved, no trailing '/').
bool IsInside(const std::string& path, const std::string& root);
// True when `path` is inside one of `roots`.
bool IsInsideAny(const std::string& path, const std::vector<std::string>& roots);

// Where a file may be read from, and how errors name it.
struct ReadConfinement {
  // Resolved absolute directories; empty: not confined (the CLI, run by whoever owns the data).
  std::vector<std::string> roots;
  // How a refusal (outside the roots) names the file: a table's relative path; empty: the path
  // as given. Other errors name the path as given, which is inside a root or was named by the
  // caller; never a resolved one.
  std::string name;
};

// The refusal for a file (or directory) named `name` that resolves outside every root:
// kPermissionDenied, with neither the resolved path nor anything read from it.
Status OutsideRootsError(const std::string& name);

// Opens `path` for reading: O_RDONLY | O_CLOEXEC, regular files only (a FIFO, device or socket
// is refused without blocking: it would hang a reader or never end), and when
// `confinement.roots` is not empty, only when the opened file lies inside one of them.
// Returns the descriptor, which the caller closes. Errors: kNotFound for a missing file,
// kPermissionDenied outside the roots (OutsideRootsError), kIOError otherwise (a file that is not
// a regular one included).
[[nodiscard]] Result<int> OpenForReading(const std::string& path,
                                         const ReadConfinement& confinement = {});

// The same rule by name, for a walk that lists before anything is opened (ListTable): Ok when
// `path` (symbolic links followed) lies inside one of `roots` or `roots` is empty;
// OutsideRootsError(name) when it resolves outside; kNotFound or kIOError when it cannot be
// resolved. Checks the name only: the open that follows checks the object again.
[[nodiscard]] Status CheckConfined(const std::string& path, const std::string& name,
                                   const std::vector<std::string>& roots);

}  // namespace aimass::io
