#include "engine/byte_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace rehome::engine {
namespace {

TEST(ByteBudget, grants_at_once_while_the_bytes_fit) {
  ByteBudget budget(100);
  int granted = 0;
  budget.acquire(60, [&] { ++granted; });
  budget.acquire(40, [&] { ++granted; });
  EXPECT_EQ(granted, 2);
  EXPECT_EQ(budget.in_use(), 100);
}

TEST(ByteBudget, waits_when_spent_and_grants_in_order_on_release) {
  ByteBudget budget(100);
  std::vector<int> order;
  budget.acquire(80, [&] { order.push_back(0); });
  budget.acquire(50, [&] { order.push_back(1); });
  budget.acquire(10, [&] { order.push_back(2); });  // Would fit, but never overtakes 1.
  EXPECT_EQ(order, (std::vector<int>{0}));
  EXPECT_EQ(budget.waiting(), 2u);
  budget.release(80);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(budget.in_use(), 60);
  EXPECT_LE(budget.peak(), 100);
}

TEST(ByteBudget, a_request_larger_than_the_budget_runs_alone_instead_of_waiting_forever) {
  ByteBudget budget(100);
  bool big = false;
  budget.acquire(10, [] {});
  budget.acquire(500, [&] { big = true; });
  EXPECT_FALSE(big);
  budget.release(10);
  EXPECT_TRUE(big);
  EXPECT_EQ(budget.in_use(), 500);
}

TEST(ByteBudget, a_grant_that_releases_at_once_does_not_recurse) {
  ByteBudget budget(10);
  int granted = 0;
  budget.acquire(10, [] {});
  for (int i = 0; i < 1000; ++i) {
    budget.acquire(10, [&] {
      ++granted;
      budget.release(10);  // An answer that arrived before the call returned.
    });
  }
  budget.release(10);
  EXPECT_EQ(granted, 1000);
  EXPECT_EQ(budget.in_use(), 0);
}

}  // namespace
}  // namespace rehome::engine
