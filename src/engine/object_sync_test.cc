// ObjectSync on in-tree fakes (FakeS3 answering through the real event loop's timers, the job's
// state in memory): the two-listing merge, the window a slow object may hold open, the order
// in which outcomes and watermarks are handed over, range splitting, resuming, and stopping.
#include "engine/object_sync.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <map>
#include <string>

#include "fake_job_state.h"
#include "fake_s3.h"

namespace rehome::engine {
namespace {

using fakes::FakeS3;
using Op = FakeS3::Op;

class ObjectSyncTest : public ::testing::Test {
 protected:
  ObjectSyncTest() : s3_(&loop_) {}

  // `recheck`: first settle earlier problems again, as `run` does once per round.
  Status run(bool recheck = false) {
    Copier copier(s3_, s3_, config_, /*server_side=*/true);
    Context ctx{config_,
                loop_,
                s3_,
                s3_,
                copier,
                state_,
                summary_,
                [this] { return stop_; },
                [](const char*) {},
                {}};
    if (recheck) {
      if (auto st = recheck_earlier_problems(ctx); !st) return st;
    }
    ObjectSync sync(ctx);
    return sync.run();
  }

  // n legacy objects image/<prefix><i>, each with distinct content.
  std::vector<std::string> seed(int n, const std::string& prefix = "", int first = 0) {
    std::vector<std::string> keys;
    for (int i = first; i < first + n; ++i) {
      std::string key = fmt::format("image/{}{:05d}.png", prefix, i);
      s3_.put("legacy-s3", key, "content of " + key);
      keys.push_back(key);
      state_.universe.push_back(key);
    }
    std::sort(state_.universe.begin(), state_.universe.end());
    return keys;
  }

  // Once the copy to `key` is asked for, releases every held answer `delay` later (after
  // running `before`).
  void release_after_copy_of(const std::string& key, std::chrono::milliseconds delay,
                             std::function<void()> before = {}) {
    s3_.before(Op::kCopy, [this, key, delay, before](const std::string& copying) {
      if (copying != key) return;
      loop_.after(delay, [this, before] {
        if (before) before();
        s3_.release_all();
      });
    });
  }

  // Two lanes over 604 keys, 600 of them in one range that is not the last (the plan's
  // open-ended last range is never split), listed 10 at a time: a lane runs out early and
  // splits the busy range.
  void seed_one_busy_range() {
    config_.ranges = 2;
    config_.split_min_keys = 20;
    config_.list_page_size = 10;
    seed(2, "a-");
    seed(600, "m-");
    seed(2, "z-");
  }

  static std::string twin(const std::string& legacy_key) {
    return "avatar/" + legacy_key.substr(6);
  }

  // The promise a kill relies on, and the plan's cover, after any run.
  void expect_bookkeeping_consistent() {
    EXPECT_TRUE(state_.watermark_violations.empty())
        << "a watermark passed " << state_.watermark_violations.front();
    EXPECT_TRUE(state_.ranges_cover_everything()) << "the ranges no longer chain from \"\" to \"\"";
  }

  http::Loop loop_;
  FakeS3 s3_;
  fakes::FakeJobState state_;
  JobConfig config_;
  Summary summary_;
  bool stop_ = false;
};

TEST_F(ObjectSyncTest, merges_the_two_listings_without_a_head_per_object) {
  auto keys = seed(100);
  for (std::size_t i = 0; i < 30; ++i)
    s3_.put("production-s3", twin(keys[i]), "content of " + keys[i]);
  for (std::size_t i = 30; i < 40; ++i) s3_.put("production-s3", twin(keys[i]), "the app's own");
  s3_.put("production-s3", "avatar/00000a-only-in-production.png", "x");
  s3_.put("production-s3", "avatar/zzz-only-in-production.png", "y");

  ASSERT_TRUE(run());
  EXPECT_EQ(summary_.objects_listed, 100u);
  EXPECT_EQ(summary_.objects_copied, 60u);
  EXPECT_EQ(summary_.objects_already_copied, 30u);
  EXPECT_EQ(summary_.objects_conflict, 10u);
  EXPECT_EQ(s3_.calls(Op::kHead), 0u) << "the listings decide; no HEAD per object";
  EXPECT_EQ(s3_.overwrites(), 0u);
  EXPECT_EQ(s3_.object("production-s3", twin(keys[35]))->body, "the app's own");
  EXPECT_EQ(s3_.object("production-s3", "avatar/zzz-only-in-production.png")->body, "y");
  EXPECT_EQ(state_.records.size(), 100u);
  EXPECT_EQ(state_.records[keys[35]].state, ObjectState::kConflict);
  EXPECT_EQ(state_.records[keys[45]].state, ObjectState::kCopied);
  EXPECT_TRUE(state_.job.listing_complete);
  expect_bookkeeping_consistent();
}

TEST_F(ObjectSyncTest, outcomes_are_handed_over_in_key_order_within_each_range) {
  auto keys = seed(300);
  // Answers come back out of order: some copies are held, and released a while after the
  // first of them was asked for (a timer set before the run would fire during planning).
  for (std::size_t i : {3u, 77u, 150u, 151u, 298u}) s3_.hold(twin(keys[i]));
  release_after_copy_of(twin(keys[3]), std::chrono::milliseconds(300));
  ASSERT_TRUE(run());
  EXPECT_EQ(state_.records.size(), 300u);
  std::map<int, std::string> last_per_range;
  for (const auto& batch : state_.batches) {
    for (const auto& record : batch.records) {
      for (const auto& range : state_.saved_ranges) {
        if (!range.range.contains(record.legacy_key)) continue;
        EXPECT_LT(last_per_range[range.number], record.legacy_key) << "range " << range.number;
        last_per_range[range.number] = record.legacy_key;
      }
    }
  }
  expect_bookkeeping_consistent();
}

TEST_F(ObjectSyncTest, a_slow_object_holds_its_range_back_by_at_most_the_window) {
  config_.concurrency = 2;
  config_.ranges = 1;
  auto keys = seed(4000);
  // One range of every key, so the window, not the range's end, is what stops it.
  state_.saved_ranges = {RangeProgress{0, KeyRange{"", ""}, "", false}};
  s3_.hold(twin(keys[0]));
  std::size_t started_while_held = 0;
  std::size_t recorded_while_held = 0;
  // Once the window is full, give the range a while to (wrongly) start more, then release.
  release_after_copy_of(twin(keys[window_limit(2) - 1]), std::chrono::milliseconds(200), [&] {
    started_while_held = s3_.calls(Op::kCopy);
    recorded_while_held = state_.records.size();
  });
  ASSERT_TRUE(run());
  EXPECT_EQ(started_while_held, window_limit(2))
      << "the window lets a range copy past a slow object, that far and no further";
  EXPECT_EQ(recorded_while_held, 0u) << "nothing after the slow object is recorded before it";
  EXPECT_EQ(state_.records.size(), 4000u);
  expect_bookkeeping_consistent();
}

TEST_F(ObjectSyncTest, a_free_lane_splits_the_busiest_range_and_every_key_is_settled_once) {
  seed_one_busy_range();
  ASSERT_TRUE(run());
  EXPECT_GE(summary_.ranges_split, 1u);
  EXPECT_EQ(state_.splits, summary_.ranges_split);
  EXPECT_EQ(summary_.objects_listed, 604u) << "no key listed twice, none skipped";
  EXPECT_EQ(s3_.calls(Op::kCopy), 604u);
  EXPECT_EQ(state_.records.size(), 604u);
  for (const auto& range : state_.saved_ranges) EXPECT_TRUE(range.complete) << range.number;
  expect_bookkeeping_consistent();
}

TEST_F(ObjectSyncTest, resumes_each_range_after_its_recorded_watermark) {
  auto keys = seed(100);
  state_.saved_ranges = {RangeProgress{0, KeyRange{"", keys[59]}, keys[49], false},
                         RangeProgress{1, KeyRange{keys[59], ""}, "", false}};
  for (std::size_t i = 0; i < 50; ++i) {
    s3_.put("production-s3", twin(keys[i]), "content of " + keys[i]);
    state_.records[keys[i]] = ObjectRecord{keys[i], ObjectState::kCopied, "", 0, "", ""};
  }
  ASSERT_TRUE(run());
  EXPECT_EQ(summary_.objects_listed, 50u);
  EXPECT_EQ(s3_.calls(Op::kCopy), 50u);
  EXPECT_EQ(state_.records.size(), 100u);
  expect_bookkeeping_consistent();
}

TEST_F(ObjectSyncTest, earlier_conflicts_and_failures_are_settled_again_first) {
  auto keys = seed(3);
  state_.saved_ranges = {RangeProgress{0, KeyRange{"", ""}, keys[2], true}};
  state_.job.listing_complete = true;
  state_.records[keys[0]] = ObjectRecord{keys[0], ObjectState::kFailed, "", 0, "", "timeout"};
  state_.records[keys[1]] = ObjectRecord{keys[1], ObjectState::kConflict, "", 0, "", "differs"};
  state_.records[keys[2]] = ObjectRecord{keys[2], ObjectState::kCopied, "", 0, "", ""};
  // The conflict was resolved by hand since: production now holds the same content.
  s3_.put("production-s3", twin(keys[1]), "content of " + keys[1]);
  s3_.put("production-s3", twin(keys[2]), "content of " + keys[2]);
  ASSERT_TRUE(run(/*recheck=*/true));
  EXPECT_EQ(state_.records[keys[0]].state, ObjectState::kCopied);
  EXPECT_EQ(state_.records[keys[1]].state, ObjectState::kCopied);
  EXPECT_EQ(s3_.calls(Op::kCopy), 1u);
  EXPECT_EQ(s3_.calls(Op::kList), 0u) << "a complete listing is not listed again";
}

TEST_F(ObjectSyncTest, a_job_fatal_error_stops_the_phase_and_is_returned) {
  auto keys = seed(50);
  s3_.fail(Op::kCopy, twin(keys[30]), fakes::forbidden(keys[30], "ExpiredToken"));
  Status st = run();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, "ExpiredToken");
  EXPECT_FALSE(state_.job.listing_complete);
  EXPECT_TRUE(state_.watermark_violations.empty());
}

TEST_F(ObjectSyncTest, one_refused_object_is_recorded_as_failed_and_the_job_goes_on) {
  auto keys = seed(200);
  s3_.fail(Op::kCopy, twin(keys[77]), fakes::access_denied(keys[77]));
  ASSERT_TRUE(run());
  EXPECT_TRUE(state_.job.listing_complete);
  EXPECT_EQ(summary_.objects_failed, 1u);
  EXPECT_EQ(summary_.objects_copied, 199u);
  EXPECT_EQ(state_.records[keys[77]].state, ObjectState::kFailed);
  EXPECT_NE(state_.records[keys[77]].detail.find("only this object is refused"), std::string::npos);
  ASSERT_FALSE(summary_.problems.empty());
  EXPECT_NE(summary_.problems.front().find(keys[77]), std::string::npos) << "the summary names it";
  expect_bookkeeping_consistent();
}

TEST_F(ObjectSyncTest, a_deny_on_the_whole_prefix_stops_after_the_first_refusals) {
  config_.concurrency = 4;
  auto keys = seed(2000);
  for (const auto& key : keys) s3_.fail(Op::kCopy, twin(key), fakes::access_denied(key));
  Status st = run();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kAccessDenied);
  EXPECT_NE(st.error().message.find("the first 20 objects were all refused the same way"),
            std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("s3:GetObject on s3://legacy-s3/image/*"), std::string::npos);
  EXPECT_LE(summary_.objects_failed, kFirstRefusalsToStop + config_.concurrency)
      << "no failed record for every object of a bucket that cannot be read";
}

TEST_F(ObjectSyncTest, refusals_after_a_success_are_per_object) {
  config_.concurrency = 1;
  config_.ranges = 1;
  auto keys = seed(100);
  for (std::size_t i = 1; i < 60; ++i)
    s3_.fail(Op::kCopy, twin(keys[i]), fakes::access_denied(keys[i]));
  ASSERT_TRUE(run()) << "the first object was copied: the prefix is not denied as a whole";
  EXPECT_EQ(summary_.objects_failed, 59u);
  EXPECT_EQ(summary_.objects_copied, 41u);
}

TEST_F(ObjectSyncTest, a_split_that_cannot_be_recorded_stops_the_phase) {
  seed_one_busy_range();
  state_.split_error = Error::permanent("the database is read-only");
  Status st = run();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "recording copy outcomes: the database is read-only");
  EXPECT_FALSE(state_.job.listing_complete);
  EXPECT_TRUE(state_.watermark_violations.empty());
}

TEST_F(ObjectSyncTest, a_recording_failure_stops_the_phase) {
  config_.record_batch = 10;
  seed(200);
  state_.sink_fails_after = 1;
  Status st = run();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "recording copy outcomes: the database refused the batch");
  EXPECT_FALSE(state_.job.listing_complete);
}

TEST_F(ObjectSyncTest, a_stop_finishes_what_is_in_flight_and_a_rerun_does_the_rest) {
  config_.concurrency = 4;
  config_.ranges = 1;
  auto keys = seed(500);
  // Four copies held in flight when the stop comes: nothing else can start meanwhile.
  for (std::size_t i = 100; i < 104; ++i) s3_.hold(twin(keys[i]));
  s3_.before(Op::kCopy, [&](const std::string& key) {
    if (key == twin(keys[100])) stop_ = true;
  });
  release_after_copy_of(twin(keys[103]), std::chrono::milliseconds(500));
  ASSERT_TRUE(run());
  EXPECT_FALSE(state_.job.listing_complete);
  expect_bookkeeping_consistent();
  const std::size_t copied_first = s3_.calls(Op::kCopy);
  EXPECT_EQ(copied_first, 104u) << "no copy starts after the stop; those in flight finish";
  EXPECT_EQ(state_.records.size(), 104u) << "what finished is recorded";

  stop_ = false;
  summary_ = {};
  ASSERT_TRUE(run());
  EXPECT_TRUE(state_.job.listing_complete);
  EXPECT_EQ(state_.records.size(), 500u);
  // What was copied but not yet recorded is found already copied by the merge: no object is
  // copied twice.
  EXPECT_EQ(s3_.calls(Op::kCopy), 500u);
  EXPECT_EQ(summary_.objects_copied + summary_.objects_already_copied, summary_.objects_listed);
  expect_bookkeeping_consistent();
}

}  // namespace
}  // namespace rehome::engine
