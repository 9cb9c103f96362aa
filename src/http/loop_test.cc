// Timers only: transfers need a server and are covered by the integration suites.
#include "http/loop.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace rehome::http {
namespace {

using std::chrono::milliseconds;

TEST(Loop, run_returns_at_once_when_idle) {
  Loop loop;
  loop.run();
  EXPECT_EQ(loop.in_flight(), 0u);
}

TEST(Loop, timers_fire_in_deadline_order) {
  Loop loop;
  std::vector<int> fired;
  // 100 ms apart: a loaded machine may stall between two after() calls for tens of ms.
  loop.after(milliseconds(300), [&] { fired.push_back(3); });
  loop.after(milliseconds(100), [&] { fired.push_back(1); });
  loop.after(milliseconds(200), [&] { fired.push_back(2); });
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
}

TEST(Loop, timers_with_equal_delays_fire_in_the_order_they_were_set) {
  Loop loop;
  std::vector<int> fired;
  for (int i = 0; i < 5; ++i) loop.after(milliseconds(0), [&fired, i] { fired.push_back(i); });
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Loop, a_timer_does_not_fire_before_its_delay) {
  Loop loop;
  auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point fired_at;
  loop.after(milliseconds(20), [&] { fired_at = std::chrono::steady_clock::now(); });
  loop.run();
  EXPECT_GE(fired_at - start, milliseconds(20));
}

TEST(Loop, cancelled_timer_never_fires) {
  Loop loop;
  bool cancelled_fired = false;
  bool kept_fired = false;
  TimerId id = loop.after(milliseconds(5), [&] { cancelled_fired = true; });
  loop.after(milliseconds(10), [&] { kept_fired = true; });
  loop.cancel(id);
  loop.run();
  EXPECT_FALSE(cancelled_fired);
  EXPECT_TRUE(kept_fired);
}

TEST(Loop, run_returns_once_the_only_timer_is_cancelled) {
  Loop loop;
  bool fired = false;
  TimerId id = loop.after(milliseconds(60'000), [&] { fired = true; });
  loop.after(milliseconds(1), [&] { loop.cancel(id); });
  auto start = std::chrono::steady_clock::now();
  loop.run();
  EXPECT_FALSE(fired);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(30'000));
}

TEST(Loop, cancel_of_a_fired_or_unknown_timer_is_a_no_op) {
  Loop loop;
  int count = 0;
  TimerId id = loop.after(milliseconds(0), [&] { ++count; });
  loop.run();
  loop.cancel(id);
  loop.cancel(12345);
  loop.run();
  EXPECT_EQ(count, 1);
}

TEST(Loop, a_timer_may_set_another_timer) {
  Loop loop;
  std::vector<int> fired;
  loop.after(milliseconds(1), [&] {
    fired.push_back(1);
    loop.after(milliseconds(1), [&] { fired.push_back(2); });
  });
  loop.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

TEST(Loop, stop_makes_run_return_with_timers_still_pending) {
  Loop loop;
  bool late_fired = false;
  loop.after(milliseconds(1), [&] { loop.stop(); });
  loop.after(milliseconds(50), [&] { late_fired = true; });
  loop.run();
  EXPECT_FALSE(late_fired);
  loop.run();  // the next run picks up the pending timer
  EXPECT_TRUE(late_fired);
}

TEST(Loop, exception_from_a_timer_escapes_run_and_the_loop_stays_usable) {
  Loop loop;
  bool later_fired = false;
  loop.after(milliseconds(1), [] { throw std::logic_error("bug"); });
  loop.after(milliseconds(5), [&] { later_fired = true; });
  EXPECT_THROW(loop.run(), std::logic_error);
  loop.run();
  EXPECT_TRUE(later_fired);
}

TEST(Response, header_finds_the_first_header_with_a_lower_case_name) {
  Response r;
  r.headers = {{"etag", "\"a\""}, {"content-length", "3"}, {"etag", "\"b\""}};
  ASSERT_NE(r.header("etag"), nullptr);
  EXPECT_EQ(*r.header("etag"), "\"a\"");
  EXPECT_EQ(r.header("x-missing"), nullptr);
}

}  // namespace
}  // namespace rehome::http
