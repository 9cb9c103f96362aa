// When and how long to wait before retrying: pure functions, tested as tables.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include "util/result.h"

namespace rehome::s3 {

struct RetryPolicy {
  int max_attempts = 10;                  ///< Including the first attempt.
  std::chrono::milliseconds base{100};    ///< First backoff ceiling.
  std::chrono::milliseconds cap{20'000};  ///< No single wait is longer (bar Retry-After).
  std::chrono::milliseconds max_retry_after{120'000};  ///< Retry-After values are clamped to this.
};

/// True when an error of this kind, on this attempt (1-based, the one that just failed),
/// should be retried under the policy.
bool should_retry(const RetryPolicy& policy, ErrorKind kind, int attempt);

/// The wait before attempt `attempt + 1`: full jitter, uniform in [0, min(cap, base *
/// 2^(attempt-1))]. A Retry-After (ms) from the server is honoured as a lower bound (clamped
/// to max_retry_after).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt,
                                        std::optional<long> retry_after_ms, std::mt19937_64& rng);

}  // namespace rehome::s3
