// A real Loop, no network: the "requests" are loop timers that release their slot.
#include "s3/pacer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace rehome::s3 {
namespace {

using std::chrono::milliseconds;

TEST(Pacer, starts_at_once_when_a_slot_is_free) {
  http::Loop loop;
  Pacer pacer(loop, {.max_in_flight = 2});
  bool started = false;
  pacer.acquire([&] { started = true; });
  EXPECT_TRUE(started);
  EXPECT_EQ(pacer.in_flight(), 1u);
  pacer.release();
  EXPECT_EQ(pacer.in_flight(), 0u);
}

TEST(Pacer, never_exceeds_max_in_flight_and_starts_waiters_in_fifo_order) {
  http::Loop loop;
  Pacer pacer(loop, {.max_in_flight = 3});
  std::vector<int> order;
  std::size_t most_in_flight = 0;
  for (int i = 0; i < 10; ++i) {
    pacer.acquire([&, i] {
      order.push_back(i);
      most_in_flight = std::max(most_in_flight, pacer.in_flight());
      loop.after(milliseconds(1), [&] { pacer.release(); });
    });
  }
  EXPECT_EQ(order.size(), 3u);
  EXPECT_EQ(pacer.waiting(), 7u);
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(most_in_flight, 3u);
  EXPECT_EQ(pacer.stats().started, 10u);
  EXPECT_EQ(pacer.in_flight(), 0u);
}

TEST(Pacer, max_rps_spreads_starts_over_time) {
  http::Loop loop;
  Pacer pacer(loop, {.max_in_flight = 100, .max_rps = 50});
  std::vector<int> order;
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    pacer.acquire([&, i] {
      order.push_back(i);
      loop.after(milliseconds(0), [&] { pacer.release(); });
    });
  }
  // 50 rps allows a burst of 50 ms worth (2.5 tokens), not all ten.
  EXPECT_LT(order.size(), 10u);
  loop.run();
  auto elapsed = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // At least 7.5 tokens had to be earned at 50/s (150 ms); timers never fire early.
  EXPECT_GE(elapsed, milliseconds(100));
}

TEST(Pacer, one_burst_of_throttles_is_one_cut) {
  http::Loop loop;
  Pacer pacer(loop, {.max_rps = 100});
  EXPECT_DOUBLE_EQ(pacer.stats().current_rps_limit, 100);
  const auto sent = std::chrono::steady_clock::now();
  pacer.on_throttled(sent);
  pacer.on_throttled(sent);  // the same burst of 503s: ignored
  EXPECT_EQ(pacer.stats().throttle_events, 1u);
  EXPECT_LT(pacer.stats().current_rps_limit, 100);
}

TEST(Pacer, throttling_never_cuts_below_min_rps) {
  http::Loop loop;
  Pacer pacer(loop, {.max_rps = 10, .min_rps = 8});
  pacer.on_throttled(std::chrono::steady_clock::now());  // nothing accepted yet: the floor
  EXPECT_DOUBLE_EQ(pacer.stats().current_rps_limit, 8);
}

TEST(Pacer, destroying_the_pacer_drops_waiters_and_its_timer) {
  http::Loop loop;
  int started = 0;
  {
    Pacer pacer(loop, {.max_in_flight = 10, .max_rps = 1});
    for (int i = 0; i < 3; ++i) pacer.acquire([&] { ++started; });
    EXPECT_EQ(started, 1);
  }
  auto begin = std::chrono::steady_clock::now();
  loop.run();
  EXPECT_EQ(started, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, milliseconds(500));
}

TEST(Pacer, without_a_hard_cap_it_starts_at_128_in_flight) {
  http::Loop loop;
  Pacer pacer(loop, {});
  std::size_t started = 0;
  for (int i = 0; i < 300; ++i) pacer.acquire([&] { ++started; });
  EXPECT_EQ(pacer.in_flight_limit(), kInitialInFlight);
  EXPECT_EQ(started, kInitialInFlight);
  EXPECT_EQ(pacer.waiting(), 300 - kInitialInFlight);
}

TEST(Pacer, a_hard_cap_is_the_cap) {
  http::Loop loop;
  Pacer pacer(loop, {.max_in_flight = 700});
  EXPECT_EQ(pacer.in_flight_limit(), 700u) << "above the ceiling: the user's word";
}

TEST(Pacer, release_without_a_start_is_a_programmer_error) {
  http::Loop loop;
  Pacer pacer(loop, {});
  EXPECT_THROW(pacer.release(), std::logic_error);
}

}  // namespace
}  // namespace rehome::s3
