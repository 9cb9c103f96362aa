// Result<T>: the value of an operation that can fail in an expected way (a 404, a lost
// connection, a malformed response). Low layers return it; the engine decides what to do;
// only the top layer turns an Error into a message or an exit status. Programmer errors and
// truly fatal conditions are exceptions instead.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rehome {

/// What a caller can do about a failure. Each layer maps its own codes (HTTP status, S3 error
/// code, curl code, SQLSTATE) onto these, in one place.
enum class ErrorKind {
  kThrottled,  ///< The server asked us to slow down (503 SlowDown, 429): retry later, slower.
  kTransient,  ///< Network fault, 5xx, timeout, lost DB connection: retry.
  kNotFound,   ///< The object, bucket or row does not exist.
  kPreconditionFailed,  ///< A condition (If-Match, If-None-Match, compare-and-swap) did not hold.
  kAccessDenied,        ///< Credentials or permissions: fix the configuration.
  kConflict,            ///< The destination holds different content; reported, never overwritten.
  kInDoubt,             ///< A commit whose outcome is unknown: check, never blindly replay.
  kInvalidInput,        ///< Bad configuration or input: fix it and rerun.
  kPermanent,           ///< Anything else that retrying will not fix.
};

/// A short lowercase name for messages and JSON ("throttled", "not found", ...).
const char* to_string(ErrorKind kind) noexcept;

/// True for the kinds a retry may cure (throttled, transient).
bool is_retryable(ErrorKind kind) noexcept;

/// An expected failure: its kind, a message that says what happened to what (never a secret),
/// and the protocol details callers use to decide (HTTP status, S3 code, SQLSTATE...).
struct Error {
  ErrorKind kind = ErrorKind::kPermanent;
  std::string message;  ///< "GET s3://legacy-s3/image/a.png: 403 AccessDenied"
  std::string code;     ///< Protocol-level code: S3 error code, SQLSTATE, curl error name.
  std::optional<long> http_status;     ///< Unset when no HTTP response was received.
  std::optional<long> retry_after_ms;  ///< From a Retry-After header, when there was one.

  /// An error of `kind` with no protocol details.
  static Error of(ErrorKind kind, std::string message, std::string code = {}) {
    Error e;
    e.kind = kind;
    e.message = std::move(message);
    e.code = std::move(code);
    return e;
  }
  /// Bad configuration or input: the message says which and how to fix it.
  static Error invalid_input(std::string message) {
    return of(ErrorKind::kInvalidInput, std::move(message));
  }
  /// Anything retrying will not fix.
  static Error permanent(std::string message) {
    return of(ErrorKind::kPermanent, std::move(message));
  }
  /// A fault a retry may cure.
  static Error transient(std::string message) {
    return of(ErrorKind::kTransient, std::move(message));
  }

  /// The same error, its message prefixed with what was being done ("planning ...: ").
  Error context(std::string_view doing) const& {
    Error e = *this;
    e.message = std::string(doing) + ": " + message;
    return e;
  }
};

/// Either a T or an Error. Deliberately small: has_value(), value(), error().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

/// Result of an operation with no value: success or an Error.
struct Ok {};
using Status = Result<Ok>;

}  // namespace rehome
