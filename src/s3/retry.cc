#include "s3/retry.h"

#include <algorithm>
#include <cstdint>

namespace rehome::s3 {

bool should_retry(const RetryPolicy& policy, ErrorKind kind, int attempt) {
  return is_retryable(kind) && attempt < policy.max_attempts;
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempt,
                                        std::optional<long> retry_after_ms, std::mt19937_64& rng) {
  const std::int64_t base = std::max<std::int64_t>(0, policy.base.count());
  const std::int64_t cap = std::max<std::int64_t>(0, policy.cap.count());

  // min(cap, base * 2^(attempt-1)) without overflow: once base << shift would pass cap, the
  // cap is the answer, however large the attempt.
  const int shift = std::max(attempt, 1) - 1;
  std::int64_t ceiling = cap;
  if (shift < 62 && base <= (cap >> shift)) ceiling = base << shift;

  // Retry-After is a floor; jitter still spreads clients above it when the ceiling allows.
  std::int64_t floor = 0;
  if (retry_after_ms) {
    floor = std::min<std::int64_t>(*retry_after_ms,
                                   std::max<std::int64_t>(0, policy.max_retry_after.count()));
  }
  std::uniform_int_distribution<std::int64_t> jitter(floor, std::max(floor, ceiling));
  return std::chrono::milliseconds(jitter(rng));
}

}  // namespace rehome::s3
