#include "coordinator/service/data_roots.h"

#include <filesystem>

namespace aimass::service {

namespace fs = std::filesystem;

Result<DataRoots> DataRoots::Create(const std::vector<std::string>& roots) {
  DataRoots created;
  for (const std::string& root : roots) {
    std::error_code error;
    fs::path resolved = fs::canonical(root, error);
    if (error) return Status::InvalidArgument("--data-root " + root + ": " + error.message());
    if (!fs::is_directory(resolved, error)) {
      return Status::InvalidArgument("--data-root " + root + ": not a directory");
    }
    created.roots_.push_back(resolved.string());
  }
  return created;
}

Result<std::string> DataRoots::Confine(const std::string& key, const std::string& path) const {
  if (roots_.empty()) {
    return Status::PermissionDenied(key + ": '" + path + "': this server has no --data-root, so " +
                                    "jobs may not name paths");
  }
  if (path.empty()) return Status::InvalidArgument(key + ": an empty path");
  fs::path candidate(path);
  if (candidate.is_relative()) candidate = fs::path(roots_.front()) / candidate;
  std::error_code error;
  // Resolves every existing component (symlinks included), then the rest lexically.
  fs::path resolved = fs::weakly_canonical(candidate, error);
  if (error) return Status::InvalidArgument(key + ": '" + path + "': " + error.message());
  std::string text = resolved.lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  for (const std::string& root : roots_) {
    if (IsInside(text, root)) return text;
  }
  // Names the path as given, not where it resolves: a link's target outside the roots is the
  // server's business, not the submitter's.
  return Status::PermissionDenied(key + ": '" + path + "' resolves outside every --data-root");
}

}  // namespace aimass::service
