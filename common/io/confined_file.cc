#include "common/io/confined_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

namespace aimass::io {
namespace {

Status OpenError(const std::string& name, const char* what, int error) {
  return Status::FromCode(error == ENOENT ? StatusCode::kNotFound : StatusCode::kIOError,
                          name + ": " + what + ": " + strerror(error));
}

// realpath(3) of `path`, or the errno it failed with.
Result<std::string> Resolve(const std::string& path, int* error) {
  std::unique_ptr<char, decltype(&free)> resolved(::realpath(path.c_str(), nullptr), &free);
  if (resolved == nullptr) {
    *error = errno;
    return Status::IOError("realpath");
  }
  return std::string(resolved.get());
}

// Whether the open `fd` lies inside `roots`. The kernel's name for the descriptor says where the
// object opened actually is, whatever links or renames led to it. Without /proc (a chroot or a
// container without it), the name is resolved instead and must still lead to the same inode:
// a link swapped after the open then shows as a different file and is refused too.
Result<bool> OpenedInside(int fd, const std::string& path, const struct stat& opened,
                          const std::vector<std::string>& roots) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[PATH_MAX + 1];
  const ssize_t n = ::readlink(link.c_str(), target, PATH_MAX);
  if (n > 0 && target[0] == '/') return IsInsideAny(std::string(target, static_cast<size_t>(n)), roots);
  int error = 0;
  auto resolved = Resolve(path, &error);
  if (!resolved.ok()) return false;  // vanished or unreadable: cannot show it is inside
  struct stat named {};
  if (::stat(resolved->c_str(), &named) != 0) return false;
  if (named.st_dev != opened.st_dev || named.st_ino != opened.st_ino) return false;
  return IsInsideAny(*resolved, roots);
}

}  // namespace

bool IsInside(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

bool IsInsideAny(const std::string& path, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    if (IsInside(path, root)) return true;
  }
  return false;
}

Status OutsideRootsError(const std::string& name) {
  return Status::PermissionDenied(name +
                                  ": resolves outside every --data-root (a symbolic link that "
                                  "leaves the data roots is not followed)");
}

Result<int> OpenForReading(const std::string& path, const ReadConfinement& confinement) {
  int fd;
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever; O_NOCTTY: a
  // terminal device must not become the server's controlling terminal. Both before the checks,
  // as the open itself is what could hang.
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int error = errno;
    // The path as given (the table's, inside a root), never where a link in it leads.
    return OpenError(path, "cannot open", error);
  }
  struct stat opened {};
  if (::fstat(fd, &opened) != 0) {
    const int error = errno;
    ::close(fd);
    return OpenError(path, "cannot stat", error);
  }
  if (!confinement.roots.empty()) {
    // Confinement first: a device outside the roots is refused as outside, not described.
    auto inside = OpenedInside(fd, path, opened, confinement.roots);
    if (!inside.ok() || !*inside) {
      ::close(fd);
      return OutsideRootsError(confinement.name.empty() ? path : confinement.name);
    }
  }
  if (!S_ISREG(opened.st_mode)) {
    ::close(fd);
    // IOError, as input_stream.h has it: something there, but not readable as a file.
    return Status::IOError(path + ": not a regular file (a directory, FIFO, socket or device is "
                                  "not read as table data)");
  }
  // Reads of a regular file never return EAGAIN, but the flag has no business staying set.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int error = errno;
    ::close(fd);
    return OpenError(path, "cannot set flags", error);
  }
  return fd;
}

Status CheckConfined(const std::string& path, const std::string& name,
                     const std::vector<std::string>& roots) {
  if (roots.empty()) return Status::Ok();
  int error = 0;
  auto resolved = Resolve(path, &error);
  // A dangling link inside the table: say so without saying where it points.
  if (!resolved.ok()) return OpenError(name, "cannot resolve", error);
  if (!IsInsideAny(*resolved, roots)) return OutsideRootsError(name);
  return Status::Ok();
}

}  // namespace aimass::io
