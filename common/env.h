// Env: the one door to the filesystem and the clock, so that tests can inject faults
// (a failed fsync, a torn write) and production code never calls the OS directly for files
// that matter (checkpoints, outputs, run metadata).
//
// Error codes: a path that does not exist is StatusCode::kNotFound, one that exists when it
// must not kAlreadyExists, a lock held elsewhere kFailedPrecondition, any other failure of the OS
// (permissions, full disk, read/write/fsync errors) kIOError. Test doubles should keep to this.
//
// Thread safety: every method of an Env may be called from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
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

// An advisory lock held until destroyed (Env::LockFile).
class FileLock {
 public:
  virtual ~FileLock() = default;
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
  // A directory and everything below it; absent is fine.
  virtual Status RemoveTree(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (same filesystem), durably: the directory is synced.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // An exclusive lock on `path` (created if missing) against other processes, or at once an
  // error when one holds it. Released when the FileLock is destroyed or the process ends.
  // The holder's pid is written into the file, so that a refusal (kFailedPrecondition) can say
  // "locked by another process (pid N)"; the file's contents mean nothing else.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  virtual std::chrono::steady_clock::time_point Now() = 0;
};

// Forwards every call to another Env, so a test double overrides only what it fakes.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env& target) : target_(target) {}

  Result<std::string> ReadFile(const std::string& path) override { return target_.ReadFile(path); }
  Status WriteFileAtomically(const std::string& path, const std::string& contents) override {
    return target_.WriteFileAtomically(path, contents);
  }
  Status AppendToFile(const std::string& path, const std::string& contents) override {
    return target_.AppendToFile(path, contents);
  }
  Result<std::vector<FileInfo>> ListDirectory(const std::string& path) override {
    return target_.ListDirectory(path);
  }
  Result<FileInfo> Stat(const std::string& path) override { return target_.Stat(path); }
  bool Exists(const std::string& path) override { return target_.Exists(path); }
  Status CreateDirectories(const std::string& path) override {
    return target_.CreateDirectories(path);
  }
  Status RemoveFile(const std::string& path) override { return target_.RemoveFile(path); }
  Status RemoveTree(const std::string& path) override { return target_.RemoveTree(path); }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return target_.RenameFile(from, to);
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return target_.LockFile(path);
  }
  std::chrono::steady_clock::time_point Now() override { return target_.Now(); }

 private:
  Env& target_;
};

// This machine's host name, as workers report it in their Hello.
std::string LocalHostName();

// "dir/name" without doubling the separator.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace aimass
