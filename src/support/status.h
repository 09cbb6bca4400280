// Status and StatusOr: how autosp reports errors a user can cause (bad config,
// bad shapes, bad model code, bad files). Internal invariants use AUTOSP_CHECK
// instead, which aborts with a message: a failed CHECK is a bug in autosp.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace autosp {

/// Kinds of failure, coarse on purpose: the message carries the detail.
enum class StatusCode {
  kOk,
  kInvalidArgument,  ///< the user's input is wrong (config, shapes, model code)
  kNotFound,         ///< a named thing (file, tensor, key) does not exist
  kUnimplemented,    ///< valid request that autosp does not support yet
  kParseError,       ///< malformed text (IR file, JSON)
  kInternal,         ///< an invariant broke; report as a bug
  kUnavailable,      ///< a peer, file system or device failed
  kDeadlineExceeded, ///< a timeout expired
};

std::string_view StatusCodeName(StatusCode code);

/// The result of an operation that can fail for a user-visible reason.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// "invalid-argument: <message>", or "ok".
  std::string ToString() const;

  /// Returns this status with `context` prepended ("while loading X: ...").
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename... Args>
Status InvalidArgument(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kInvalidArgument, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status NotFound(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kNotFound, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status Unimplemented(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kUnimplemented, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status ParseError(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kParseError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status InternalError(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kInternal, fmt::format(f, std::forward<Args>(args)...));
}

/// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

namespace internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const std::string& message);
}  // namespace internal

}  // namespace autosp

/// Internal invariant: aborts with file:line, the condition and a message.
#define AUTOSP_CHECK(cond, ...)                                                      \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      ::autosp::internal::CheckFailed(__FILE__, __LINE__, #cond,                     \
                                      ::fmt::format("" __VA_ARGS__));                \
    }                                                                                \
  } while (0)

/// Propagates a non-ok Status out of the enclosing function.
#define AUTOSP_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::autosp::Status autosp_status_ = (expr); \
    if (!autosp_status_.ok()) return autosp_status_; \
  } while (0)

#define AUTOSP_CONCAT_INNER_(a, b) a##b
#define AUTOSP_CONCAT_(a, b) AUTOSP_CONCAT_INNER_(a, b)

/// `AUTOSP_ASSIGN_OR_RETURN(auto x, MakeX());` — unwraps a StatusOr or returns its Status.
#define AUTOSP_ASSIGN_OR_RETURN(lhs, expr) \
  AUTOSP_ASSIGN_OR_RETURN_IMPL_(AUTOSP_CONCAT_(autosp_statusor_, __LINE__), lhs, expr)
#define AUTOSP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
