// Status and Result<T>: how errors cross process, file and network boundaries in AI Mass.
// An error carries one human-readable line that names the file, key, record or rank at fault;
// callers add context on the way up ("job.yaml: ...") and the top level prints it once.
//
// An error also carries a StatusCode (LevelDB/Abseil style) so that a caller — a retry loop, a
// later HTTP layer mapping to 400/404/503 — can decide what to do without parsing the text.
// Boundaries pick the code (a missing file is kNotFound, a bad CRC is kCorruption, a dropped
// connection is kUnavailable); layers above only add context, which keeps the code.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aimass {

// What kind of error a Status is. Values are stable (they may be logged or sent on the wire).
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,           // the operation was stopped on request (shutdown, abort)
  kUnknown = 2,             // reserved for errors translated from foreign code without a kind
  kInvalidArgument = 3,     // bad input from the caller: config key, value, frame, shape
  kDeadlineExceeded = 4,    // a time-out expired before the operation finished
  kNotFound = 5,            // a file, key or entry that should exist does not
  kAlreadyExists = 6,       // something to create exists already
  kPermissionDenied = 7,    // the caller may not do this (a role, a path outside the data roots)
  kResourceExhausted = 8,   // a bounded queue or quota is full now: retry later
  kFailedPrecondition = 9,  // the system is not in the state the operation needs
  kUnavailable = 14,        // a peer or service cannot be reached now (connect, closed socket)
  kInternal = 13,           // a generic error: Status::Error() and broken invariants
  kIOError = 100,           // reading, writing, syncing or renaming failed at the OS level
  kCorruption = 101,        // stored or received bytes fail a check (CRC, magic, decoding)
  kNonFinite = 102,         // a computation produced NaN or Inf (a diverged loss, gradient or
                            // parameter): the same input would do it again
};

// "InvalidArgument", "NotFound", ... (for logs and error mapping); a value outside the enum
// (e.g. decoded from a newer peer) maps to "Unknown".
inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kUnknown: return "Unknown";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kDeadlineExceeded: return "DeadlineExceeded";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kPermissionDenied: return "PermissionDenied";
    case StatusCode::kResourceExhausted: return "ResourceExhausted";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kInternal: return "Internal";
    case StatusCode::kIOError: return "IOError";
    case StatusCode::kCorruption: return "Corruption";
    case StatusCode::kNonFinite: return "NonFinite";
  }
  return "Unknown";
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  // An error with code `code`; kOk makes an OK status (the message is then dropped).
  static Status FromCode(StatusCode code, std::string message) {
    if (code == StatusCode::kOk) return Status();
    return Status(code, std::move(message));
  }
  // The generic error, for the many call sites that have no better kind (kInternal). New code
  // at a boundary should prefer one of the named constructors below.
  static Status Error(std::string message) {
    return Status(StatusCode::kInternal, std::move(message));
  }
  static Status Cancelled(std::string message) {
    return Status(StatusCode::kCancelled, std::move(message));
  }
  static Status InvalidArgument(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }
  static Status DeadlineExceeded(std::string message) {
    return Status(StatusCode::kDeadlineExceeded, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(StatusCode::kNotFound, std::move(message));
  }
  static Status AlreadyExists(std::string message) {
    return Status(StatusCode::kAlreadyExists, std::move(message));
  }
  static Status PermissionDenied(std::string message) {
    return Status(StatusCode::kPermissionDenied, std::move(message));
  }
  static Status ResourceExhausted(std::string message) {
    return Status(StatusCode::kResourceExhausted, std::move(message));
  }
  static Status FailedPrecondition(std::string message) {
    return Status(StatusCode::kFailedPrecondition, std::move(message));
  }
  static Status Unavailable(std::string message) {
    return Status(StatusCode::kUnavailable, std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(StatusCode::kInternal, std::move(message));
  }
  static Status IOError(std::string message) {
    return Status(StatusCode::kIOError, std::move(message));
  }
  static Status Corruption(std::string message) {
    return Status(StatusCode::kCorruption, std::move(message));
  }
  static Status NonFinite(std::string message) {
    return Status(StatusCode::kNonFinite, std::move(message));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // The human-readable line, without the code's name (that is what users are shown).
  const std::string& message() const { return message_; }
  // "NotFound: <message>" for logs that want the kind; "OK" for an OK status.
  std::string ToString() const {
    if (ok()) return "OK";
    return std::string(StatusCodeName(code_)) + ": " + message_;
  }

  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsIOError() const { return code_ == StatusCode::kIOError; }
  bool IsCorruption() const { return code_ == StatusCode::kCorruption; }
  bool IsNonFinite() const { return code_ == StatusCode::kNonFinite; }
  bool IsUnavailable() const { return code_ == StatusCode::kUnavailable; }
  bool IsDeadlineExceeded() const { return code_ == StatusCode::kDeadlineExceeded; }

  // "context: message" with the same code; keeps OK statuses OK.
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

 private:
  Status(StatusCode code, std::string message) : message_(std::move(message)), code_(code) {}
  std::string message_;
  StatusCode code_ = StatusCode::kOk;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}                 // NOLINT: implicit by design
  Result(Status error) : status_(std::move(error)) {}           // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

  Result WithContext(std::string_view context) && {
    if (ok()) return std::move(*this);
    return status_.WithContext(context);
  }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace aimass

#define AIMASS_CONCAT_INNER(a, b) a##b
#define AIMASS_CONCAT(a, b) AIMASS_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is an error.
#define AIMASS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::aimass::Status aimass_status_ = (expr);        \
    if (!aimass_status_.ok()) return aimass_status_; \
  } while (false)

// `lhs = value of expr`, or returns its error from the enclosing function.
#define AIMASS_ASSIGN_OR_RETURN(lhs, expr) \
  AIMASS_ASSIGN_OR_RETURN_IMPL(AIMASS_CONCAT(aimass_result_, __LINE__), lhs, expr)
#define AIMASS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
