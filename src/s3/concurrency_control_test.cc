// ConcurrencyControl's decisions on a fake clock, against two kinds of server: a distant one
// (latency fixed, so the rate is the number in flight over the latency: Little's law) and a
// saturated one (the rate fixed, so more in flight only adds latency). Its speed is
// bench/model's to measure, never a test's.
#include "s3/concurrency_control.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

namespace rehome::s3 {
namespace {

using Clock = ConcurrencyControl::Clock;
using namespace std::chrono_literals;

struct Answer {
  double rate;     // answers per second
  double latency;  // seconds
};

// Runs `seconds` of traffic, 10 ms at a time: the control's cap is filled (demand is endless
// unless `demand` says less), and the server answers as `server` says for that many in flight.
void traffic(ConcurrencyControl& c, Clock::time_point& now, double seconds,
             const std::function<Answer(std::size_t in_flight)>& server, double rate_limit = 0,
             std::size_t demand = SIZE_MAX) {
  double owed = 0;
  for (int tick = 0; tick < static_cast<int>(seconds * 100); ++tick) {
    const std::size_t in_flight = std::min(c.limit(), demand);
    c.on_start(now, in_flight);
    const Answer a = server(in_flight);
    owed += a.rate * 0.01;
    for (; owed >= 1; owed -= 1) {
      c.on_answer(
          now,
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.latency)),
          in_flight, rate_limit);
    }
    now += 10ms;
  }
}

Answer distant(std::size_t in_flight) { return {static_cast<double>(in_flight) / 0.05, 0.05}; }

Answer saturated(std::size_t in_flight) {
  return {2000, static_cast<double>(in_flight) / 2000};  // 2,000/s whatever is sent
}

TEST(ConcurrencyControl, starts_at_its_initial_cap) {
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, Clock::time_point{});
  EXPECT_EQ(c.limit(), 128u);
}

TEST(ConcurrencyControl, a_distant_server_gets_as_many_in_flight_as_the_ceiling_allows) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
  // 128 in flight at 50 ms is 2,560/s: doubling doubles the rate, so it keeps doubling.
  traffic(c, now, 1.05, distant);
  EXPECT_EQ(c.limit(), 256u);
  traffic(c, now, 1.0, distant);
  EXPECT_EQ(c.limit(), 512u);
  traffic(c, now, 5, distant);
  EXPECT_EQ(c.limit(), 512u) << "never above the ceiling";
}

TEST(ConcurrencyControl, a_saturated_server_is_probed_now_and_then_but_kept_at_the_cap) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
  std::size_t most = 0;
  for (int i = 0; i < 300; ++i) {  // 30 s
    traffic(c, now, 0.1, saturated);
    most = std::max(most, c.limit());
  }
  EXPECT_EQ(most, 256u) << "a probe doubles once and sees no gain";
  EXPECT_EQ(c.limit(), 128u);
  // Probes cost a second each, once per 10 s: a third of a second in ten at 256 in the long run.
  int at_probe = 0;
  for (int i = 0; i < 300; ++i) {
    traffic(c, now, 0.1, saturated);
    if (c.limit() > 128) ++at_probe;
  }
  EXPECT_GT(at_probe, 0);
  EXPECT_LE(at_probe, 40);
}

TEST(ConcurrencyControl, a_server_that_gains_a_little_is_not_worth_more_in_flight) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
  // Doubling gains 10 %: below the 25 % a doubling must earn.
  auto server = [](std::size_t n) { return Answer{n > 128 ? 2200.0 : 2000.0, 0.06}; };
  traffic(c, now, 3, server);
  EXPECT_EQ(c.limit(), 128u);
}

TEST(ConcurrencyControl, while_the_rate_is_limited_the_cap_is_twice_rate_times_latency) {
  struct Case {
    double rate_limit;
    double latency;
    std::size_t expected;
  };
  for (const Case& k : {Case{3500, 0.05, 358},      // AWS's prefix at 50 ms: 175 in flight
                        Case{292, 0.48, 289},       // the same, time-scaled by 12
                        Case{100, 0.05, 128},       // never below the initial cap
                        Case{20000, 0.05, 512}}) {  // never above the ceiling
    auto now = Clock::time_point{} + 1h;
    ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
    auto server = [&](std::size_t) { return Answer{k.rate_limit, k.latency}; };
    traffic(c, now, 3 * std::max(k.latency, 0.5), server, k.rate_limit);
    EXPECT_EQ(c.limit(), k.expected) << k.rate_limit << "/s at " << k.latency << " s";
  }
}

TEST(ConcurrencyControl, while_limited_a_server_slowing_under_load_does_not_pull_the_cap_up) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
  // A co-located server at its capacity: 2,000/s whatever is sent, so its latency is the number
  // in flight over 2,000 (64 ms at 128). With a limit of 2,000/s, sizing from the latency seen
  // now would double the cap every window (2 x 2,000 x 0.128 s at 256...) up to the ceiling.
  traffic(c, now, 10, saturated, /*rate_limit=*/2000);
  EXPECT_LE(c.limit(), 272u) << "about twice the limit times the unloaded 64 ms, not 512";
}

TEST(ConcurrencyControl, an_idle_spell_before_the_traffic_does_not_make_a_probe_pay) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
  now += 300ms;        // planning, access checks: nothing in flight
  c.on_start(now, 1);  // the pacer's first start after the idle spell
  traffic(c, now, 30, saturated);
  EXPECT_EQ(c.limit(), 128u) << "a saturated server, judged on full windows only";
}

TEST(ConcurrencyControl, a_window_not_at_the_cap_throughout_does_not_probe) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
  // The cap is reached for a moment in each window (a burst), then the listing runs dry.
  for (int i = 0; i < 40; ++i) {
    traffic(c, now, 0.05, distant);
    traffic(c, now, 0.45, distant, 0, /*demand=*/30);
  }
  EXPECT_EQ(c.limit(), 128u);
}

TEST(ConcurrencyControl, a_cap_that_is_not_reached_is_not_raised) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 128, .ceiling = 512}, now);
  traffic(c, now, 5, distant, 0, /*demand=*/60);  // the listing cannot feed more
  EXPECT_EQ(c.limit(), 128u);
}

TEST(ConcurrencyControl, a_hard_cap_holds_whatever_is_measured) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 32, .ceiling = 32}, now);
  traffic(c, now, 5, distant);
  EXPECT_EQ(c.limit(), 32u);
  traffic(c, now, 5, distant, 3500);
  EXPECT_EQ(c.limit(), 32u);
}

TEST(ConcurrencyControl, a_window_spans_two_round_trips_on_a_slow_link) {
  auto now = Clock::time_point{} + 1h;
  ConcurrencyControl c({.initial = 16, .ceiling = 512}, now);
  // 2 s per request: 8/s at 16 in flight. A 500 ms window would judge a doubling before any
  // request sent under it came back.
  auto slow = [](std::size_t n) { return Answer{static_cast<double>(n) / 2.0, 2.0}; };
  traffic(c, now, 2.1, slow);
  EXPECT_EQ(c.latency(), 2.0);
  const std::size_t after_first = c.limit();
  traffic(c, now, 3.0, slow);
  EXPECT_EQ(c.limit(), after_first) << "the next window closes 4 s after the last";
}

TEST(ConcurrencyControl, refuses_a_zero_cap) {
  EXPECT_THROW(ConcurrencyControl({.initial = 0, .ceiling = 8}, Clock::time_point{}),
               std::invalid_argument);
  EXPECT_THROW(ConcurrencyControl({.initial = 8, .ceiling = 0}, Clock::time_point{}),
               std::invalid_argument);
}

}  // namespace
}  // namespace rehome::s3
