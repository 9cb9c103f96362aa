// RateControl's decisions on a fake clock: where a cut lands, how the limit climbs back and
// beyond, what a burst of 503s counts for, the caps. Its speed against a throttling server is
// bench/model's to measure, never a test's.
#include "s3/rate_control.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace rehome::s3 {
namespace {

using Clock = RateControl::Clock;
using namespace std::chrono_literals;

// Sends and accepts `rate` requests per second for `seconds`, evenly, from `now` (advanced).
void steady(RateControl& c, Clock::time_point& now, double rate, double seconds,
            bool accepted = true) {
  const auto step =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1 / rate));
  for (int i = 0; i < static_cast<int>(rate * seconds); ++i) {
    c.on_send(now);
    if (accepted) c.on_accepted(now);
    now += step;
  }
}

TEST(RateControl, a_joining_worker_starts_at_its_share_then_climbs_and_probes) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  ASSERT_EQ(c.limit(now), 0) << "unlimited before";
  c.start_at(50, now);
  EXPECT_GT(c.limit(now), 0);
  EXPECT_LE(c.limit(now), 50) << "never a burst above its share at first";
  steady(c, now, 48, 3);  // it sends what it may: the limit climbs back to its share, plateaus
  EXPECT_NEAR(c.limit(now), 50 * RateControl::kPlateauLevel, 2);
  steady(c, now, 50, 6);
  EXPECT_GT(c.limit(now), 50) << "then probes above it, for a share that grew";
  EXPECT_EQ(c.cuts(), 0u) << "a start is no cut";
  // The server's word wins: the first 503 cuts at once.
  EXPECT_TRUE(c.on_throttled(now, now - 10ms));
}

TEST(RateControl, a_start_is_ignored_once_the_server_has_throttled_or_without_a_rate) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({.max_rps = 100}, now);
  EXPECT_FALSE(c.limiting()) << "--max-rps alone is not the server's limit";
  EXPECT_FALSE(c.start_at(0, now));
  EXPECT_EQ(c.limit(now), 100) << "no rate: nothing changes";
  EXPECT_TRUE(c.start_at(40, now));
  EXPECT_TRUE(c.limiting());
  EXPECT_LE(c.limit(now), 40) << "below --max-rps: the share";
  RateControl above({.max_rps = 30}, now);
  above.start_at(80, now);
  EXPECT_LE(above.limit(now), 30) << "--max-rps still caps";
  RateControl cut({}, now);
  steady(cut, now, 200, 2);
  ASSERT_TRUE(cut.on_throttled(now, now - 10ms));
  const double after_cut = cut.limit(now);
  cut.start_at(1000, now);
  EXPECT_EQ(cut.limit(now), after_cut);
}

TEST(RateControl, a_share_below_what_the_server_accepts_does_not_cut_a_busy_worker) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 1000, 3);            // at full speed, never throttled
  ASSERT_TRUE(c.start_at(350, now));  // another worker was cut: a share of 350
  EXPECT_GT(c.limit(now), 1000 * RateControl::kBeta - 50) << "held near its own rate";
  steady(c, now, 900, 1);
  EXPECT_GT(c.limit(now), 900);
}

TEST(RateControl, a_503_to_a_request_sent_before_the_last_cut_is_no_new_signal) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 200, 2);
  const auto before = now - 100ms;
  ASSERT_TRUE(c.on_throttled(now, before));
  // A slow link: the burst's other 503s arrive a whole second later.
  EXPECT_FALSE(c.on_throttled(now + 1s, before));
  EXPECT_TRUE(c.on_throttled(now + 1s, now + 500ms)) << "sent after the cut, still refused";
}

TEST(RateControl, a_burst_after_a_quiet_phase_is_cut_from_the_burst_not_the_quiet_rate) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 5, 30);      // start-up listings, planning
  steady(c, now, 1000, 0.3);  // the copies begin
  ASSERT_TRUE(c.on_throttled(now, now));
  EXPECT_GE(c.limit(now), 250);
}

TEST(RateControl, a_peak_measured_far_too_low_is_outgrown_in_seconds) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  ASSERT_TRUE(c.on_throttled(now, now));  // nothing measured: the floor
  const auto cut = now;
  // The curve's 2 s back to the old peak, 2 s of plateau, then at least 5 t^2 per second.
  while (now < cut + 10s) steady(c, now, std::max(c.limit(now), 10.0), 0.1);
  EXPECT_GE(c.limit(now), 150) << "6 s past the plateau";
  while (now < cut + 20s) steady(c, now, std::max(c.limit(now), 10.0), 0.1);
  EXPECT_GE(c.limit(now), 1000) << "16 s past the plateau";
}

TEST(RateControl, unthrottled_it_does_not_limit_beyond_max_rps) {
  auto now = Clock::time_point{} + 1h;
  RateControl free({}, now);
  RateControl capped({.max_rps = 50}, now);
  steady(free, now, 1000, 2);
  EXPECT_EQ(free.limit(now), 0);
  EXPECT_EQ(capped.limit(now), 50);
}

TEST(RateControl, a_cut_lands_at_beta_of_the_accepted_rate_not_of_what_was_sent) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  // 400/s sent, of which the server accepted 200/s (the rest refused): the capacity is 200.
  for (int i = 0; i < 800; ++i) {
    c.on_send(now);
    if (i % 2 == 0) c.on_accepted(now);
    now += 2500us;
  }
  ASSERT_TRUE(c.on_throttled(now, now));
  EXPECT_NEAR(c.limit(now), RateControl::kBeta * 200, 5);
}

TEST(RateControl, one_burst_of_503s_is_one_cut) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 200, 2);
  EXPECT_TRUE(c.on_throttled(now, now));
  EXPECT_FALSE(c.on_throttled(now + 50ms, now + 50ms));
  EXPECT_FALSE(c.on_throttled(now + 150ms, now + 150ms));
  EXPECT_TRUE(c.on_throttled(now + RateControl::kCoolingPeriod, now + RateControl::kCoolingPeriod));
  EXPECT_EQ(c.cuts(), 2u);
}

TEST(RateControl, it_climbs_back_in_seconds_holds_near_the_peak_then_probes_above) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 1000, 2);
  ASSERT_TRUE(c.on_throttled(now, now));
  const auto cut = now;
  struct Row {
    std::chrono::milliseconds after;
    double low, high;  // the limit, as a fraction of the accepted rate at the cut (1000/s)
  };
  const Row rows[] = {{0ms, 0.84, 0.86},    {400ms, 0.91, 0.94},
                      {1000ms, 0.94, 0.96},  // the plateau, from 0.6 s to 2.6 s
                      {2500ms, 0.94, 0.96}, {4000ms, 0.99, 1.01},
                      {5000ms, 1.00, 1.03}, {7000ms, 1.4, 1.8}};
  for (const auto& row : rows) {
    // Keep sending at the limit, so that the cap (twice what is sent) does not bind.
    while (now < cut + row.after) {
      steady(c, now, std::max(c.limit(now), 10.0), 0.1);
    }
    const double fraction = c.limit(cut + row.after) / 1000;
    EXPECT_GE(fraction, row.low) << row.after.count() << " ms after the cut";
    EXPECT_LE(fraction, row.high) << row.after.count() << " ms after the cut";
  }
}

// A server with a limit: it takes up to `limit` requests per second and throttles the rest.
// Runs `seconds` in 10 ms steps sending at the control's limit; returns the accepted rate of
// the last second.
double against(RateControl& c, Clock::time_point& now, double limit, double seconds) {
  double accepted_last_second = 0;
  const int steps = static_cast<int>(seconds * 100);
  double owed = 0;
  double tokens = 0;  // the server's bucket: 50 ms worth at most
  for (int i = 0; i < steps; ++i) {
    const double rate = c.limit(now) > 0 ? c.limit(now) : 2 * limit;
    owed += rate * 0.01;
    const int sends = static_cast<int>(owed);
    owed -= sends;
    tokens = std::min(tokens + limit * 0.01, limit * 0.05);
    const int taken = std::min(sends, static_cast<int>(tokens));
    tokens -= taken;
    for (int k = 0; k < sends; ++k) c.on_send(now);
    for (int k = 0; k < taken; ++k) c.on_accepted(now);
    if (sends > taken) c.on_throttled(now, now - 50ms);
    if (i >= steps - 100) accepted_last_second += taken;
    now += 10ms;
  }
  return accepted_last_second;
}

TEST(RateControl, a_limit_that_rose_by_half_is_followed_within_10_s_at_any_scale) {
  for (double limit : {150.0, 3500.0}) {
    auto now = Clock::time_point{} + 1h;
    RateControl c({}, now);
    against(c, now, limit, 30);  // settled at the old limit
    // S3 added a partition: the limit is 1.5 times higher from now on.
    int seconds = 0;
    while (against(c, now, 1.5 * limit, 1) < 0.9 * 1.5 * limit && seconds < 30) ++seconds;
    EXPECT_LT(seconds, 10) << "at " << limit << "/s";
  }
}

TEST(RateControl, the_same_constants_serve_any_scale) {
  for (double rate : {20.0, 200.0, 5000.0}) {
    auto now = Clock::time_point{} + 1h;
    RateControl c({}, now);
    steady(c, now, rate, 2);
    ASSERT_TRUE(c.on_throttled(now, now));
    EXPECT_NEAR(c.limit(now) / rate, RateControl::kBeta, 0.02) << rate;
  }
}

TEST(RateControl, the_limit_never_runs_far_ahead_of_what_is_sent) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 1000, 2);
  ASSERT_TRUE(c.on_throttled(now, now));
  // The job then sends only 100/s for a minute (few objects left): the cubic would be far
  // above 1000/s by now, but the limit stays where the cut put it (twice 100/s being less).
  steady(c, now, 100, 60);
  EXPECT_NEAR(c.limit(now), RateControl::kBeta * 1000, 10);
  // Sending at 800/s again, it may climb to twice that, no further.
  steady(c, now, 800, 3);
  EXPECT_LE(c.limit(now), 2 * 800 * 1.05);
}

TEST(RateControl, a_lower_peak_than_the_last_gives_up_more) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 1000, 2);
  ASSERT_TRUE(c.on_throttled(now, now));
  now += 1s;
  steady(c, now, 600, 2);  // the capacity shrank (or another process took a share)
  ASSERT_TRUE(c.on_throttled(now, now));
  // Cut from 600 * (1 + beta) / 2 rather than from 600.
  EXPECT_NEAR(c.limit(now), RateControl::kBeta * 600 * (1 + RateControl::kBeta) / 2, 10);
}

TEST(RateControl, throttled_before_anything_was_accepted_it_starts_from_half_of_what_was_sent) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({}, now);
  steady(c, now, 1000, 0.2, /*accepted=*/false);  // the job's first 200 requests, all refused
  ASSERT_TRUE(c.on_throttled(now, now));
  EXPECT_NEAR(c.limit(now), RateControl::kBeta * 500, 25);
}

TEST(RateControl, throttling_never_cuts_below_min_rps_nor_above_max_rps) {
  auto now = Clock::time_point{} + 1h;
  RateControl c({.max_rps = 10, .min_rps = 8}, now);
  ASSERT_TRUE(c.on_throttled(now, now));  // nothing sent or accepted yet
  EXPECT_DOUBLE_EQ(c.limit(now), 8);
  steady(c, now, 10, 120);
  EXPECT_LE(c.limit(now), 10);
}

}  // namespace
}  // namespace rehome::s3
