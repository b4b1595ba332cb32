#include "common/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace aimass {
namespace {

// The code says what a caller can do about it: a missing path (NotFound) is usually a user's
// mistake, anything else the OS refused (IOError) is the machine's.
StatusCode CodeOfErrno(int error) {
  switch (error) {
    case ENOENT: return StatusCode::kNotFound;
    case EEXIST: return StatusCode::kAlreadyExists;
    default: return StatusCode::kIOError;
  }
}

Status PosixError(const std::string& path, const char* what) {
  const int error = errno;
  return Status::FromCode(CodeOfErrno(error),
                          path + ": " + what + " failed: " + std::strerror(error));
}

std::string DirectoryOf(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteAll(int fd, const std::string& path, const char* data, size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return PosixError(path, "write");
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return Status::Ok();
}

// A rename is durable only once the directory entry is on disk.
Status SyncDirectoryOf(const std::string& path) {
  std::string dir = DirectoryOf(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return PosixError(dir, "open");
  Status status;
  if (::fsync(dir_fd) != 0) status = PosixError(dir, "fsync");
  ::close(dir_fd);
  return status;
}

// " (pid N)" from a lock file its holder wrote its pid into; empty when there is none (a holder
// of an older version, or one that is just writing it).
std::string HolderOf(int fd) {
  char text[24] = {};
  ssize_t got = ::pread(fd, text, sizeof(text) - 1, 0);
  if (got <= 0) return "";
  char* end = nullptr;
  long pid = std::strtol(text, &end, 10);
  if (end == text || pid <= 0) return "";
  return " (pid " + std::to_string(pid) + ")";
}

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // closing drops the flock

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(path, "open");
    std::string contents;
    char buffer[1 << 16];
    while (true) {
      ssize_t got = ::read(fd, buffer, sizeof(buffer));
      if (got < 0) {
        if (errno == EINTR) continue;
        Status error = PosixError(path, "read");
        ::close(fd);
        return error;
      }
      if (got == 0) break;
      contents.append(buffer, static_cast<size_t>(got));
    }
    ::close(fd);
    return contents;
  }

  Status WriteFileAtomically(const std::string& path, const std::string& contents) override {
    static std::atomic<uint64_t> counter{0};
    std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                       std::to_string(counter.fetch_add(1));
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError(temp, "open");
    Status status = WriteAll(fd, temp, contents.data(), contents.size());
    if (status.ok() && ::fsync(fd) != 0) status = PosixError(temp, "fsync");
    if (::close(fd) != 0 && status.ok()) status = PosixError(temp, "close");
    if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) status = PosixError(path, "rename");
    if (!status.ok()) {
      ::unlink(temp.c_str());
      return status;
    }
    return SyncDirectoryOf(path);
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      const int error = errno;
      return Status::FromCode(CodeOfErrno(error),
                              from + ": rename to " + to + " failed: " + std::strerror(error));
    }
    return SyncDirectoryOf(to);
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError(path, "open");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      Status error = errno == EWOULDBLOCK
                         ? Status::FailedPrecondition(path + ": locked by another process" +
                                                      HolderOf(fd))
                         : PosixError(path, "flock");
      ::close(fd);
      return error;
    }
    // Only for the message of whoever is refused next; a failure to record it changes nothing.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }

  Status RemoveTree(const std::string& path) override {
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error) return Status::IOError(path + ": cannot remove: " + error.message());
    return Status::Ok();
  }

  Status AppendToFile(const std::string& path, const std::string& contents) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError(path, "open");
    Status status = WriteAll(fd, path, contents.data(), contents.size());
    ::close(fd);
    return status;
  }

  Result<std::vector<FileInfo>> ListDirectory(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return PosixError(path, "opendir");
    std::vector<FileInfo> entries;
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      auto info = Stat(JoinPath(path, name));
      if (!info.ok()) continue;  // vanished between readdir and stat
      info->name = name;
      entries.push_back(std::move(info).value());
    }
    ::closedir(dir);
    return entries;
  }

  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return PosixError(path, "stat");
    FileInfo info;
    auto slash = path.find_last_of('/');
    info.name = slash == std::string::npos ? path : path.substr(slash + 1);
    info.is_directory = S_ISDIR(st.st_mode);
    info.size = static_cast<uint64_t>(st.st_size);
    info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    return info;
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Status CreateDirectories(const std::string& path) override {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) return Status::IOError(path + ": cannot create directory: " + error.message());
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return PosixError(path, "unlink");
    return Status::Ok();
  }

  std::chrono::steady_clock::time_point Now() override { return std::chrono::steady_clock::now(); }
};

}  // namespace

Env& Env::Default() {
  static auto* env = new PosixEnv();
  return *env;
}

std::string LocalHostName() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace aimass
