// The outcome recorder against a real PostgreSQL 15: batches commit in the order they were
// handed in, drain() waits for all of them, a lost connection is reconnected, a failure stops
// every later batch and is reported, and a database that falls behind holds submit() back
// (and waits for a lock another connection holds, without deadlock).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/claim_store.h"
#include "engine/config.h"
#include "engine/outcome_recorder.h"
#include "engine/state_store.h"
#include "fixture.h"
#include "pg/connection.h"

namespace rehome::engine {
namespace {

using namespace std::chrono_literals;
using testing::must;

ObjectRecord record(std::string key, ObjectState state) {
  ObjectRecord rec;
  rec.legacy_key = std::move(key);
  rec.state = state;
  rec.etag = "\"e\"";
  rec.size = 1;
  rec.production_etag = rec.etag;
  return rec;
}

class OutcomeRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    database_ = std::make_unique<testing::TestDatabase>();
    config_.database.conninfo = database_->conninfo();
    main_ = std::make_unique<pg::Connection>(must(pg::Connection::open(config_.database)));
    state_ = std::make_unique<StateStore>(*main_, config_.state_schema, "job");
    ASSERT_TRUE(state_->ensure_schema());
    ranges_ = must(state_->save_ranges({KeyRange{"", "k5"}, KeyRange{"k5", ""}}));
    ASSERT_EQ(ranges_.size(), 2u);
  }

  std::string query(const std::string& sql) {
    auto rows = must(main_->exec(sql));
    return rows.size() == 0 ? "" : std::string(rows.text(0, 0));
  }

  std::unique_ptr<OutcomeRecorder> open(std::size_t max_waiting = 4) {
    return must(OutcomeRecorder::open(config_, "job", max_waiting));
  }

  std::unique_ptr<testing::TestDatabase> database_;
  JobConfig config_;
  std::unique_ptr<pg::Connection> main_;
  std::unique_ptr<StateStore> state_;
  std::vector<RangeProgress> ranges_;
};

TEST_F(OutcomeRecorderTest, commits_batches_in_the_order_they_were_handed_in) {
  auto recorder = open();
  // The same key three times: only the order of the commits decides what stays.
  for (auto state : {ObjectState::kFailed, ObjectState::kConflict, ObjectState::kCopied}) {
    std::vector<ObjectRecord> records{record("k1", state)};
    for (int i = 0; i < 500; ++i) records.push_back(record("k2-" + std::to_string(i), state));
    ASSERT_TRUE(
        recorder->submit({std::move(records), {RangeMark{ranges_[0].number, "k2", false}}}));
  }
  ASSERT_TRUE(recorder->submit({{}, {RangeMark{ranges_[0].number, "k3", true}}}));
  ASSERT_TRUE(recorder->drain());
  EXPECT_EQ(query("SELECT listing_completed_at IS NOT NULL FROM rehome.jobs"), "f")
      << "one range is left";
  ASSERT_TRUE(recorder->submit({{}, {RangeMark{ranges_[1].number, "", true}}}));
  ASSERT_TRUE(recorder->drain());
  EXPECT_EQ(query("SELECT state FROM rehome.objects WHERE legacy_key = 'k1'"), "copied");
  EXPECT_EQ(query("SELECT count(*) FROM rehome.objects WHERE state = 'copied'"), "501");
  EXPECT_EQ(query("SELECT watermark || ' ' || (completed_at IS NOT NULL) FROM rehome.ranges "
                  "WHERE range_no = " +
                  std::to_string(ranges_[0].number)),
            "k3 true");
  EXPECT_EQ(query("SELECT listing_completed_at IS NOT NULL FROM rehome.jobs"), "t");
}

TEST_F(OutcomeRecorderTest,
       a_range_taken_over_by_another_worker_gets_nothing_more_from_its_old_owner) {
  ClaimStore claims(*state_, 15s);
  auto first = must(claims.claim_range(/*worker=*/1));
  auto second = must(claims.claim_range(/*worker=*/1));
  ASSERT_TRUE(first && second);
  // Worker 1 freezes past its lease on the second range; worker 2 takes it over.
  query("UPDATE rehome.ranges SET lease_until = now() - interval '1 second' WHERE range_no = " +
        std::to_string(second->number));
  auto taken = must(claims.claim_range(/*worker=*/2));
  ASSERT_TRUE(taken);
  ASSERT_EQ(taken->number, second->number);
  EXPECT_GT(taken->epoch, second->epoch);

  // Worker 1 wakes up and hands in what it had: outcomes and marks in both ranges.
  auto recorder = open();
  OutcomeBatch batch{
      {record("k1", ObjectState::kCopied), record("k6", ObjectState::kCopied)},
      {RangeMark{first->number, "k1", false}, RangeMark{second->number, "k6", true}},
      {},
      {RangeClaim{first->number, first->epoch, first->range.start_after, first->range.last},
       RangeClaim{second->number, second->epoch, second->range.start_after, second->range.last}}};
  ASSERT_TRUE(recorder->submit(std::move(batch)));
  ASSERT_TRUE(recorder->drain());
  EXPECT_EQ(query("SELECT string_agg(legacy_key, ',') FROM rehome.objects"), "k1");
  EXPECT_EQ(query("SELECT watermark || ' ' || (completed_at IS NOT NULL) FROM rehome.ranges "
                  "WHERE range_no = " +
                  std::to_string(second->number)),
            " false")
      << "nothing of the range it lost";
  auto lost = recorder->take_lost();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].number, second->number);
  EXPECT_EQ(lost[0].epoch, second->epoch);
  // The claim log: the lost epoch never committed, the first did; the takeover ended it.
  EXPECT_EQ(query("SELECT count(*) FROM rehome.claims WHERE last_commit_at IS NOT NULL AND "
                  "epoch = " +
                  std::to_string(first->epoch)),
            "1");
  EXPECT_EQ(query("SELECT coalesce(last_commit_at::text, 'never') || ' ' || end_reason FROM "
                  "rehome.claims WHERE epoch = " +
                  std::to_string(second->epoch)),
            "never taken over");
}

TEST_F(OutcomeRecorderTest, reconnects_when_its_connection_is_terminated) {
  auto recorder = open();
  ASSERT_TRUE(recorder->submit({{record("k1", ObjectState::kCopied)}, {}}));
  ASSERT_TRUE(recorder->drain());
  EXPECT_EQ(query("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND application_name = 'rehome outcomes'"),
            "1");
  ASSERT_TRUE(recorder->submit({{record("k2", ObjectState::kCopied)}, {}}));
  Status drained = recorder->drain();
  ASSERT_TRUE(drained) << drained.error().message;
  EXPECT_EQ(query("SELECT count(*) FROM rehome.objects"), "2");
}

TEST_F(OutcomeRecorderTest, a_failure_stops_every_later_batch_and_is_reported) {
  auto recorder = open();
  // The ranges table gone: the batch's range mark fails for good and the batch rolls back.
  query("DROP TABLE rehome.ranges");
  ASSERT_TRUE(recorder->submit(
      {{record("k1", ObjectState::kCopied)}, {RangeMark{ranges_[0].number, "k1", false}}}));
  Status drained = recorder->drain();
  ASSERT_FALSE(drained);
  EXPECT_FALSE(recorder->status());
  Status later = recorder->submit({{record("k2", ObjectState::kCopied)}, {}});
  EXPECT_FALSE(later);
  recorder.reset();  // Nothing handed in after the failure may be committed on the way out.
  EXPECT_EQ(query("SELECT count(*) FROM rehome.objects"), "0");
}

TEST_F(OutcomeRecorderTest, holds_submit_back_while_the_database_is_behind) {
  auto recorder = open(/*max_waiting=*/2);
  // Another connection holds the range's row: the first batch waits for its lock.
  auto blocker = must(pg::Connection::open(config_.database));
  ASSERT_TRUE(blocker.begin());
  ASSERT_TRUE(blocker.exec("SELECT 1 FROM rehome.ranges WHERE range_no = " +
                           std::to_string(ranges_[1].number) + " FOR UPDATE"));
  auto batch = [&](int i) {
    return OutcomeRecorder::Batch{{record("k6-" + std::to_string(i), ObjectState::kCopied)},
                                  {RangeMark{ranges_[1].number, "k6-" + std::to_string(i), false}}};
  };
  // One committing (blocked on the lock) and two waiting fit; the fourth must wait for room.
  ASSERT_TRUE(recorder->submit(batch(0)));
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rehome outcomes' "
               "AND wait_event_type = 'Lock'") != "1") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the first batch never met the lock";
    std::this_thread::sleep_for(10ms);
  }
  for (int i = 1; i < 3; ++i) ASSERT_TRUE(recorder->submit(batch(i)));
  auto fourth = std::async(std::launch::async, [&] { return recorder->submit(batch(3)); });
  EXPECT_EQ(fourth.wait_for(300ms), std::future_status::timeout);
  EXPECT_EQ(query("SELECT count(*) FROM rehome.objects"), "0");
  ASSERT_TRUE(blocker.commit());
  EXPECT_TRUE(fourth.get());
  ASSERT_TRUE(recorder->drain());
  EXPECT_EQ(query("SELECT count(*) FROM rehome.objects"), "4");
  EXPECT_EQ(query("SELECT watermark FROM rehome.ranges WHERE range_no = " +
                  std::to_string(ranges_[1].number)),
            "k6-3");
}

}  // namespace
}  // namespace rehome::engine
