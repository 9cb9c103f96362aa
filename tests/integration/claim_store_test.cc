// ClaimStore against a real PostgreSQL 15, beyond what the kill tests show: what a heartbeat
// learns of the other workers (how many are alive, and this one's share of their rate limits),
// and the job's ranges by state as `rehome status` and the rehome_ranges metric count them.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "engine/claim_store.h"
#include "engine/config.h"
#include "engine/state_store.h"
#include "fixture.h"
#include "pg/connection.h"

namespace rehome::engine {
namespace {

using namespace std::chrono_literals;
using testing::must;

class ClaimStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    database_ = std::make_unique<testing::TestDatabase>();
    config_.database.conninfo = database_->conninfo();
    main_ = std::make_unique<pg::Connection>(must(pg::Connection::open(config_.database)));
    state_ = std::make_unique<StateStore>(*main_, config_.state_schema, "job");
    ASSERT_TRUE(state_->ensure_schema());
    claims_ = std::make_unique<ClaimStore>(*state_, 15s);
  }

  void query(const std::string& sql) { must(main_->exec(sql)); }

  WorkerStats limited(double rps) {
    WorkerStats stats;
    stats.rate_limit = rps;
    return stats;
  }

  std::unique_ptr<testing::TestDatabase> database_;
  JobConfig config_;
  std::unique_ptr<pg::Connection> main_;
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<ClaimStore> claims_;
};

TEST_F(ClaimStoreTest, a_heartbeat_gives_a_share_of_the_others_limits_only_when_all_are_limited) {
  const auto a = must(claims_->register_worker("host-a", 101));
  const auto b = must(claims_->register_worker("host-b", 102));
  const auto c = must(claims_->register_worker("host-c", 103));
  Peers alone = must(claims_->beat(a, WorkerStats{}));
  EXPECT_EQ(alone.alive, 2) << "b and c registered: alive until their first lease runs out";
  EXPECT_EQ(alone.share, 0) << "neither is limited";
  must(claims_->beat(b, limited(120)));
  EXPECT_EQ(must(claims_->beat(a, WorkerStats{})).share, 0) << "c is not limited yet";
  must(claims_->beat(c, limited(60)));
  Peers joined = must(claims_->beat(a, WorkerStats{}));
  EXPECT_EQ(joined.alive, 2);
  EXPECT_DOUBLE_EQ(joined.share, 60) << "(120 + 60) shared by three";
  // A worker that stopped, or went silent past a lease, is no peer.
  must(claims_->stop_worker(c));
  EXPECT_DOUBLE_EQ(must(claims_->beat(a, WorkerStats{})).share, 60) << "120 shared by two";
  query("UPDATE rehome.workers SET heartbeat_at = now() - interval '1 minute' WHERE worker_id = " +
        std::to_string(b));
  Peers none = must(claims_->beat(a, WorkerStats{}));
  EXPECT_EQ(none.alive, 0);
  EXPECT_EQ(none.share, 0);
}

TEST_F(ClaimStoreTest, ranges_are_counted_done_claimed_and_waiting) {
  must(state_->save_ranges({KeyRange{"", "k3"}, KeyRange{"k3", "k6"}, KeyRange{"k6", ""}}));
  const auto worker = must(claims_->register_worker("host-a", 101));
  auto claimed = must(claims_->claim_range(worker));
  ASSERT_TRUE(claimed);
  JobRanges counted = must(claims_->count_ranges());
  EXPECT_EQ(counted.keys.done, 0u);
  EXPECT_EQ(counted.keys.claimed, 1u);
  EXPECT_EQ(counted.keys.waiting, 2u);
  query("UPDATE rehome.ranges SET completed_at = now() WHERE range_no <> " +
        std::to_string(claimed->number));
  // A claim whose lease ran out is waiting again, not claimed.
  query("UPDATE rehome.ranges SET lease_until = now() - interval '1 second'");
  counted = must(claims_->count_ranges());
  EXPECT_EQ(counted.keys.done, 2u);
  EXPECT_EQ(counted.keys.claimed, 0u);
  EXPECT_EQ(counted.keys.waiting, 1u);
  EXPECT_EQ(counted.rows.done + counted.rows.claimed + counted.rows.waiting, 0u)
      << "no round's rows yet";
}

}  // namespace
}  // namespace rehome::engine
