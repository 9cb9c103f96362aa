#include "s3/retry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

namespace rehome::s3 {
namespace {

using std::chrono::milliseconds;

constexpr int kDraws = 2000;

TEST(ShouldRetry, RetriesOnlyRetryableKindsWhileAttemptsRemain) {
  RetryPolicy policy;
  policy.max_attempts = 3;
  struct Case {
    ErrorKind kind;
    int attempt;
    bool retry;
  };
  const Case cases[] = {
      {ErrorKind::kThrottled, 1, true},
      {ErrorKind::kTransient, 2, true},
      {ErrorKind::kTransient, 3, false},
      {ErrorKind::kThrottled, 3, false},
      {ErrorKind::kNotFound, 1, false},
      {ErrorKind::kAccessDenied, 1, false},
      {ErrorKind::kPreconditionFailed, 1, false},
      {ErrorKind::kPermanent, 1, false},
      {ErrorKind::kInDoubt, 1, false},
      {ErrorKind::kInvalidInput, 1, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(should_retry(policy, c.kind, c.attempt), c.retry)
        << to_string(c.kind) << " attempt " << c.attempt;
  }
}

TEST(ShouldRetry, SingleAttemptPolicyNeverRetries) {
  RetryPolicy policy;
  policy.max_attempts = 1;
  EXPECT_FALSE(should_retry(policy, ErrorKind::kTransient, 1));
}

// Draws many delays and returns the smallest and largest, in ms.
std::pair<long, long> draw_range(const RetryPolicy& policy, int attempt,
                                 std::optional<long> retry_after_ms, std::uint64_t seed = 42) {
  std::mt19937_64 rng(seed);
  long low = std::numeric_limits<long>::max();
  long high = std::numeric_limits<long>::min();
  for (int i = 0; i < kDraws; ++i) {
    long ms = backoff_delay(policy, attempt, retry_after_ms, rng).count();
    low = std::min(low, ms);
    high = std::max(high, ms);
  }
  return {low, high};
}

TEST(BackoffDelay, FullJitterStaysUnderTheDoublingCeiling) {
  RetryPolicy policy;  // base 100 ms, cap 20 s
  struct Case {
    int attempt;
    long ceiling;
  };
  const Case cases[] = {{1, 100},   {2, 200},   {3, 400},    {5, 1600},
                        {8, 12800}, {9, 20000}, {10, 20000}, {0, 100}};
  for (const auto& c : cases) {
    auto [low, high] = draw_range(policy, c.attempt, std::nullopt);
    EXPECT_GE(low, 0) << "attempt " << c.attempt;
    EXPECT_LE(high, c.ceiling) << "attempt " << c.attempt;
    // Full jitter spreads over the whole range, not just its top.
    EXPECT_LT(low, c.ceiling / 10) << "attempt " << c.attempt;
    EXPECT_GT(high, c.ceiling * 9 / 10) << "attempt " << c.attempt;
  }
}

TEST(BackoffDelay, CapHoldsForHugeAttemptsWithoutOverflow) {
  RetryPolicy policy;
  for (int attempt : {60, 63, 64, 65, 1000, std::numeric_limits<int>::max()}) {
    auto [low, high] = draw_range(policy, attempt, std::nullopt);
    EXPECT_GE(low, 0) << attempt;
    EXPECT_LE(high, 20'000) << attempt;
    EXPECT_GT(high, 18'000) << attempt;
  }
}

TEST(BackoffDelay, LargeBaseIsCappedAtTheFirstAttempt) {
  RetryPolicy policy;
  policy.base = milliseconds(std::numeric_limits<long>::max() / 2);
  policy.cap = milliseconds(5'000);
  auto [low, high] = draw_range(policy, 60, std::nullopt);
  EXPECT_GE(low, 0);
  EXPECT_LE(high, 5'000);
}

TEST(BackoffDelay, RetryAfterIsALowerBound) {
  RetryPolicy policy;
  struct Case {
    int attempt;
    std::optional<long> retry_after;
    long low, high;  // Bounds every draw must respect.
  };
  const Case cases[] = {
      {1, 3'000, 3'000, 3'000},        // Above the 100 ms ceiling: exactly Retry-After.
      {9, 3'000, 3'000, 20'000},       // Below the ceiling: jitter above it.
      {1, 0, 0, 100},                  // Retry-After: 0 changes nothing.
      {1, 600'000, 120'000, 120'000},  // Clamped to max_retry_after.
      {60, 600'000, 120'000, 120'000},
  };
  for (const auto& c : cases) {
    auto [low, high] = draw_range(policy, c.attempt, c.retry_after);
    EXPECT_GE(low, c.low) << c.attempt << " " << c.retry_after.value_or(-1);
    EXPECT_LE(high, c.high) << c.attempt << " " << c.retry_after.value_or(-1);
  }
}

TEST(BackoffDelay, SameSeedGivesTheSameDelays) {
  RetryPolicy policy;
  std::mt19937_64 a(7), b(7);
  for (int attempt = 1; attempt <= 20; ++attempt) {
    EXPECT_EQ(backoff_delay(policy, attempt, std::nullopt, a),
              backoff_delay(policy, attempt, std::nullopt, b));
  }
}

}  // namespace
}  // namespace rehome::s3
