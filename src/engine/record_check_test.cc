// The check of earlier runs' records against production's listing, on in-tree fakes: only
// records made before this run are looked for, one listing per range (no HEAD), and a copy
// found missing or replaced is settled again before any row could be rewritten to it.
#include "engine/record_check.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <set>

#include "fake_job_state.h"
#include "fake_s3.h"

namespace rehome::engine {
namespace {

using fakes::FakeS3;
using Op = FakeS3::Op;

class RecordCheckTest : public ::testing::Test {
 protected:
  RecordCheckTest() : s3_(&loop_) {
    config_.legacy.bucket = "legacy-s3";
    config_.production.bucket = "production-s3";
    config_.list_page_size = 7;  // many pages from few keys
    config_.ranges = 2;
  }

  // n objects copied by "an earlier run": both sides hold them and the records say so.
  void seed_copied(int n) {
    for (int i = 0; i < n; ++i) {
      const std::string suffix = fmt::format("{:04d}.png", i);
      const std::string body = "content " + suffix;
      s3_.put("legacy-s3", "image/" + suffix, body);
      s3_.put("production-s3", "avatar/" + suffix, body);
      auto o = s3_.object("legacy-s3", "image/" + suffix);
      ObjectRecord rec;
      rec.legacy_key = "image/" + suffix;
      rec.etag = o->etag;
      rec.size = static_cast<std::int64_t>(body.size());
      rec.production_etag = o->etag;
      state_.keep(rec);
    }
    state_.fresh.clear();  // a new run begins
  }

  Result<RecordCheck> check() {
    Copier copier(s3_, s3_, config_, /*server_side=*/true);
    Context ctx{config_,
                loop_,
                s3_,
                s3_,
                copier,
                state_,
                summary_,
                [] { return false; },
                [](const char*) {},
                {}};
    return check_earlier_records(ctx, "2026-12-03 00:00:00+00", [this](const auto& keys) {
      std::vector<std::string> named;
      for (const auto& k : keys) {
        if (!unnamed_.contains(k)) named.push_back(k);
      }
      return Result<std::vector<std::string>>(named);
    });
  }

  http::Loop loop_;
  FakeS3 s3_;
  JobConfig config_;
  fakes::FakeJobState state_;
  Summary summary_;
  std::set<std::string> unnamed_;  // legacy keys no row names any more
};

TEST_F(RecordCheckTest, copies_missing_from_production_are_copied_again_and_replaced_ones_judged) {
  seed_copied(40);
  state_.saved_ranges = {RangeProgress{0, KeyRange{"", "image/0019.png"}, "", true},
                         RangeProgress{1, KeyRange{"image/0019.png", ""}, "", true}};
  s3_.remove("production-s3", "avatar/0003.png");
  s3_.remove("production-s3", "avatar/0031.png");
  s3_.put("production-s3", "avatar/0025.png", "another writer's object");
  auto result = check();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->checked, 40u);
  EXPECT_EQ(result->resettled, 3u);
  EXPECT_EQ(s3_.object("production-s3", "avatar/0003.png")->body, "content 0003.png");
  EXPECT_EQ(s3_.object("production-s3", "avatar/0031.png")->body, "content 0031.png");
  EXPECT_EQ(s3_.object("production-s3", "avatar/0025.png")->body, "another writer's object");
  EXPECT_EQ(state_.records["image/0025.png"].state, ObjectState::kConflict);
  EXPECT_EQ(state_.records["image/0003.png"].state, ObjectState::kCopied);
  EXPECT_EQ(s3_.calls(Op::kHead), 3u * 2);  // only the settled ones: legacy and twin each
}

TEST_F(RecordCheckTest, a_twin_changed_after_every_row_moved_is_the_applications_business) {
  // The rows of 0005 moved to production long ago; the user has since uploaded a new avatar
  // there. Not settled again (it would be a conflict on every run from then on).
  seed_copied(10);
  s3_.put("production-s3", "avatar/0005.png", "the user's new avatar");
  unnamed_.insert("image/0005.png");
  auto result = check();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->resettled, 0u);
  EXPECT_EQ(state_.records["image/0005.png"].state, ObjectState::kCopied);
  EXPECT_EQ(s3_.object("production-s3", "avatar/0005.png")->body, "the user's new avatar");
}

TEST_F(RecordCheckTest, keys_before_the_first_range_of_an_older_plan_are_checked_too) {
  seed_copied(20);
  state_.saved_ranges = {RangeProgress{0, KeyRange{"image/0009.png", ""}, "", true}};
  s3_.remove("production-s3", "avatar/0002.png");
  auto result = check();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->checked, 20u);
  EXPECT_EQ(result->resettled, 1u);
  EXPECT_TRUE(s3_.object("production-s3", "avatar/0002.png"));
}

TEST_F(RecordCheckTest, records_made_by_this_run_are_not_listed_again) {
  seed_copied(10);
  for (auto& [key, rec] : state_.records) state_.fresh.insert(key);
  s3_.remove("production-s3", "avatar/0003.png");  // this run saw it: not its business
  auto result = check();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->checked, 0u);
  EXPECT_EQ(s3_.calls(Op::kList), 0u);
}

TEST_F(RecordCheckTest, a_listing_that_fails_stops_the_check_and_says_why) {
  seed_copied(10);
  s3_.fail(Op::kList, "avatar/", Error::permanent("the production listing failed"), 100);
  auto result = check();
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("listing failed"), std::string::npos);
}

}  // namespace
}  // namespace rehome::engine
