// Status and Result<T>: how errors cross process, file and network boundaries in AI Mass.
// An error carries one human-readable line that names the file, key, record or rank at fault;
// callers add context on the way up ("job.yaml: ...") and the top level prints it once.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace aimass {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), false); }

  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }

  // "context: message"; keeps OK statuses OK.
  Status WithContext(std::string_view context) const {
    if (ok_) return *this;
    return Error(std::string(context) + ": " + message_);
  }

 private:
  Status(std::string message, bool ok) : message_(std::move(message)), ok_(ok) {}
  std::string message_;
  bool ok_ = true;
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
