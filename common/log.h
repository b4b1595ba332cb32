// Minimal leveled logging to stderr. Workers stay quiet unless something is wrong: only the
// coordinator talks to the user (see coordinator/progress_reporter.h).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aimass {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kWarning; AIMASS_LOG_LEVEL=debug|info|warning|error
// overrides it at start-up.
void SetLogLevel(LogLevel level);
void SetLogPrefix(const std::string& prefix);  // e.g. "worker 1"

void Log(LogLevel level, const std::string& message);
inline void LogDebug(const std::string& message) { Log(LogLevel::kDebug, message); }
inline void LogInfo(const std::string& message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(const std::string& message) { Log(LogLevel::kWarning, message); }
inline void LogError(const std::string& message) { Log(LogLevel::kError, message); }

// `text` made safe to put in a log line: every control byte (newline, carriage return,
// escape sequences...) written as \n, \r, \t or \xNN, so a string from a peer or a file can
// neither start a forged line nor rewrite the terminal; longer than `max_bytes`: cut, with the
// number of bytes left out said. Every sink of a log line applies it (ProgressReporter, Log);
// callers apply it with a small `max_bytes` to strings an unauthenticated peer chose.
std::string EscapeForLog(std::string_view text, size_t max_bytes = std::string::npos);

}  // namespace aimass
