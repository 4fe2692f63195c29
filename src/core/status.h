#pragma once
// Status and Result<T>: the error currency of hikyaku.
//
// Every fallible call returns a Status (no value) or a Result<T> (a value or a Status). Both are
// [[nodiscard]] and shaped like std::expected (has_value(), value(), error(), operator*), so a
// later move to C++23 is mechanical. Exceptions never cross a component boundary.
//
// A Status message is written for the person who must act on it: it says what is wrong and
// where (a key path, a line, the offending fragment), e.g.
//   Rules[0].Targets[1].InputTransformer.InputPathsMap: key "bad key" must match [A-Za-z0-9_-]+
//
//   Result<int> parse_port(std::string_view text);
//   HK_ASSIGN_OR_RETURN(int port, parse_port(text));   // propagates the error
//
// Thread safety: plain values; copying and moving are safe, concurrent mutation is not.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace hikyaku {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kResourceExhausted,
  kUnavailable,
  kDeadlineExceeded,
  kInternal,
};

// Lower-case name of a code ("invalid_argument"), for logs and metrics.
const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>", for adding where an error happened.
  Status with_context(std::string_view context) const;

  // "invalid_argument: <message>"; "ok" for an ok status.
  std::string to_string() const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }
inline Status invalid_argument(std::string message) {
  return {StatusCode::kInvalidArgument, std::move(message)};
}
inline Status not_found(std::string message) { return {StatusCode::kNotFound, std::move(message)}; }
inline Status already_exists(std::string message) {
  return {StatusCode::kAlreadyExists, std::move(message)};
}
inline Status failed_precondition(std::string message) {
  return {StatusCode::kFailedPrecondition, std::move(message)};
}
inline Status resource_exhausted(std::string message) {
  return {StatusCode::kResourceExhausted, std::move(message)};
}
inline Status unavailable(std::string message) {
  return {StatusCode::kUnavailable, std::move(message)};
}
inline Status deadline_exceeded(std::string message) {
  return {StatusCode::kDeadlineExceeded, std::move(message)};
}
inline Status internal_error(std::string message) {
  return {StatusCode::kInternal, std::move(message)};
}

// A value of T, or a non-ok Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(const T& value) : state_(value) {}  // NOLINT(google-explicit-constructor): like expected
  Result(T&& value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(state_).ok() && "Result needs a value or an error");
  }

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; only valid when !has_value().
  const Status& error() const { return std::get<1>(state_); }
  // Ok when a value is present, the error otherwise.
  Status status() const { return has_value() ? Status() : error(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace hikyaku

#define HK_STATUS_CONCAT_INNER(a, b) a##b
#define HK_STATUS_CONCAT(a, b) HK_STATUS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` (a Status) is not ok.
#define HK_RETURN_IF_ERROR(expr)           \
  do {                                     \
    ::hikyaku::Status hk_status_ = (expr); \
    if (!hk_status_.ok()) {                \
      return hk_status_;                   \
    }                                      \
  } while (false)

// Evaluates `expr` (a Result<T>); on error returns its Status, otherwise moves the value into
// `lhs` (which may be a declaration: HK_ASSIGN_OR_RETURN(auto x, f())).
#define HK_ASSIGN_OR_RETURN(lhs, expr) \
  HK_ASSIGN_OR_RETURN_IMPL(HK_STATUS_CONCAT(hk_result_, __LINE__), lhs, expr)
// `result` is a fresh name and `lhs` may be a declaration: neither can be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define HK_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                             \
  if (!result.has_value()) {                        \
    return result.error();                          \
  }                                                 \
  lhs = std::move(result).value()
// NOLINTEND(bugprone-macro-parentheses)
