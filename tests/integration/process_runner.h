// Runs the project's executables from tests: output captured to files, a hard time limit (a
// hung job fails its test instead of hanging CI), and background processes for fault tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace aimass::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed at the time limit
  std::string out;
  std::string err;
  double seconds = 0;
};

class Process {
 public:
  // Starts `argv` in a process group of its own, stdout and stderr into files under `log_dir`.
  Process(const std::vector<std::string>& argv, const std::string& log_dir);
  ~Process();  // kills the group if still running

  pid_t pid() const { return pid_; }
  // Its standard output so far (the file it writes to), for watching a running job.
  std::string OutputSoFar() const;
  // Waits up to `limit`; past it kills the whole group and reports exit_code -1.
  ProcessResult Wait(std::chrono::seconds limit);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_path_;
  std::string err_path_;
  std::chrono::steady_clock::time_point start_;
};

ProcessResult Run(const std::vector<std::string>& argv, const std::string& log_dir,
                  std::chrono::seconds limit = std::chrono::seconds(300));

std::string ReadText(const std::string& path);
// The whole decompressed text of a gzip file (a dataset shard); throws naming the file.
std::string ReadGzipText(const std::string& path);
void WriteText(const std::string& path, const std::string& text);

// Paths of the built executables and the MPMD mpirun prefix that works as root on few cores.
std::string CoordinatorBinary();
std::string WorkerBinary();
std::vector<std::string> MpirunPrefix();

// Debian's python3, which has python3-torch (a python3 earlier on PATH may not).
std::string PythonWithTorch();

}  // namespace aimass::testing
