// How the CLI prints while a job runs (console_observer.h decides what): the coordinator alone prints. On a terminal the progress
// line rewrites itself in place; otherwise (logs, CI, and under mpirun, which hands its ranks a
// terminal even when its own output goes to a file) a line is printed at most every few seconds,
// so the output stays readable either way.
// Not thread-safe: the job's thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace aimass::coordinator {

class ProgressReporter {
 public:
  // `out` is normally stdout; `quiet` prints no progress line (epoch results and the summary
  // still appear); `interactive` allows rewriting the line in place when `out` is a terminal.
  explicit ProgressReporter(std::FILE* out = stdout, bool quiet = false, bool interactive = true);

  // A progress line: rewritten in place on a terminal, else printed every few seconds.
  void ProgressLine(const std::string& text);
  // A line that stays (epoch results, events): ends any progress line first.
  void Line(const std::string& text);

 private:
  std::FILE* out_;
  bool quiet_;
  bool interactive_;
  bool progress_shown_ = false;
  std::chrono::steady_clock::time_point last_printed_{};
};

std::string FormatDuration(double seconds);

}  // namespace aimass::coordinator
