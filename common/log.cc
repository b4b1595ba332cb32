#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace aimass {
namespace {

LogLevel LevelFromEnvironment() {
  const char* value = std::getenv("AIMASS_LOG_LEVEL");
  if (value == nullptr) return LogLevel::kWarning;
  if (std::strcmp(value, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(value, "info") == 0) return LogLevel::kInfo;
  if (std::strcmp(value, "error") == 0) return LogLevel::kError;
  return LogLevel::kWarning;
}

std::atomic<int> g_level{static_cast<int>(LevelFromEnvironment())};
std::mutex g_mutex;
std::string g_prefix = "aimass";  // GUARDED_BY(g_mutex)

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

void SetLogPrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_prefix = prefix;
}

std::string EscapeForLog(std::string_view text, size_t max_bytes) {
  const size_t kept = text.size() > max_bytes ? max_bytes : text.size();
  std::string escaped;
  escaped.reserve(kept + 16);
  for (size_t i = 0; i < kept; ++i) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') {
      escaped += "\\n";
    } else if (byte == '\r') {
      escaped += "\\r";
    } else if (byte == '\t') {
      escaped += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      escaped += "\\x";
      escaped += kHex[byte >> 4];
      escaped += kHex[byte & 15];
    } else {
      escaped += static_cast<char>(byte);
    }
  }
  if (kept < text.size()) escaped += "...(" + std::to_string(text.size() - kept) + " more bytes)";
  return escaped;
}

void Log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) < g_level.load()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stderr, "%s: %s: %s\n", g_prefix.c_str(), LevelName(level), EscapeForLog(message).c_str());
  std::fflush(stderr);
}

}  // namespace aimass
