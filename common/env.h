// Env: the one door to the filesystem and the clock, so that tests can inject faults
// (a failed fsync, a torn write) and production code never calls the OS directly for files
// that matter (checkpoints, outputs, run metadata).
//
// Thread safety: every method of an Env may be called from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace aimass {

struct FileInfo {
  std::string name;  // entry name within its directory, not a path
  bool is_directory = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide Env backed by POSIX. Never destroyed.
  static Env& Default();

  virtual Result<std::string> ReadFile(const std::string& path) = 0;

  // Writes `contents` so that readers see either the old file or the whole new one, never a
  // part: a temporary file in the same directory, fsync, rename over `path`, fsync the directory.
  virtual Status WriteFileAtomically(const std::string& path, const std::string& contents) = 0;

  // Appends and flushes to the OS (no fsync): for logs such as metrics.jsonl.
  virtual Status AppendToFile(const std::string& path, const std::string& contents) = 0;

  virtual Result<std::vector<FileInfo>> ListDirectory(const std::string& path) = 0;
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual Status CreateDirectories(const std::string& path) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;

  virtual std::chrono::steady_clock::time_point Now() = 0;
};

// "dir/name" without doubling the separator.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace aimass
