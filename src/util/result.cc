#include "util/result.h"

namespace rehome {

const char* to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kThrottled: return "throttled";
    case ErrorKind::kTransient: return "transient";
    case ErrorKind::kNotFound: return "not found";
    case ErrorKind::kPreconditionFailed: return "precondition failed";
    case ErrorKind::kAccessDenied: return "access denied";
    case ErrorKind::kConflict: return "conflict";
    case ErrorKind::kInDoubt: return "in doubt";
    case ErrorKind::kInvalidInput: return "invalid input";
    case ErrorKind::kPermanent: return "permanent";
  }
  return "unknown";
}

bool is_retryable(ErrorKind kind) noexcept {
  return kind == ErrorKind::kThrottled || kind == ErrorKind::kTransient;
}

}  // namespace rehome
