#include "coordinator/progress_reporter.h"

#include <unistd.h>

#include <cmath>

#include "common/log.h"

namespace aimass::coordinator {

namespace {
constexpr auto kNonInteractiveInterval = std::chrono::seconds(5);
}

ProgressReporter::ProgressReporter(std::FILE* out, bool quiet, bool interactive)
    : out_(out), quiet_(quiet), interactive_(interactive && ::isatty(::fileno(out)) == 1) {}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<long>(std::lround(seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%ldh%02ldm", total / 3600, (total / 60) % 60);
  } else if (total >= 60) {
    std::snprintf(text, sizeof(text), "%ldm%02lds", total / 60, total % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lds", total);
  }
  return text;
}

void ProgressReporter::ProgressLine(const std::string& text) {
  if (quiet_) return;
  auto now = std::chrono::steady_clock::now();
  if (!interactive_ && now - last_printed_ < kNonInteractiveInterval) return;
  last_printed_ = now;
  const std::string escaped = EscapeForLog(text);
  const char* line = escaped.c_str();
  if (interactive_) {
    std::fprintf(out_, "\r\033[K%s", line);
    progress_shown_ = true;
  } else {
    std::fprintf(out_, "%s\n", line);
  }
  std::fflush(out_);
}

void ProgressReporter::Line(const std::string& text) {
  if (progress_shown_) {
    std::fprintf(out_, "\r\033[K");
    progress_shown_ = false;
  }
  // One message, one line: a newline inside it (a peer's or a file's text) is written escaped.
  std::fprintf(out_, "%s\n", EscapeForLog(text).c_str());
  std::fflush(out_);
}

}  // namespace aimass::coordinator
