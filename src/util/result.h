// Result<T>: the value of an operation that can fail in an expected way (a 404, a lost
// connection, a malformed response). Low layers return it; the engine decides what to do;
// only the top layer turns an Error into a message or an exit status. Programmer errors and
// truly fatal conditions are exceptions instead.
#pragma once

#include <string>
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
  std::string message;       ///< "GET s3://legacy-s3/image/a.png: 403 AccessDenied"
  std::string code;          ///< Protocol-level code: S3 error code, SQLSTATE, curl error name.
  long http_status = 0;      ///< 0 when no HTTP response was received.
  long retry_after_ms = -1;  ///< From a Retry-After header, -1 when absent.
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
