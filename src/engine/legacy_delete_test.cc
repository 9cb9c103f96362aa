// LegacyDelete on the in-tree fake S3: the rows are asked again before every attempt, each key
// carries its ETag as the delete's condition, and failures keep objects rather than lose them.
#include "engine/legacy_delete.h"

#include <gtest/gtest.h>

#include <set>

#include "fake_s3.h"

namespace rehome::engine {
namespace {

using fakes::FakeS3;
using Op = FakeS3::Op;

class LegacyDeleteTest : public ::testing::Test {
 protected:
  LegacyDeleteTest() : s3_(&loop_) {
    for (const char* key : {"image/a.png", "image/b.png", "image/c.png"})
      s3_.put("legacy", key, key);
  }

  Status remove(const std::vector<std::string>& keys) {
    std::vector<s3::DeleteTarget> targets;
    for (const auto& key : keys) targets.push_back({key, s3_.object("legacy", key)->etag});
    LegacyDelete remover(
        s3_, loop_, "legacy",
        [this](std::vector<s3::DeleteTarget> t) -> Result<std::vector<s3::DeleteTarget>> {
          ++checks_;
          std::erase_if(t, [&](const auto& x) { return referenced_.contains(x.key); });
          return t;
        },
        summary_);
    return remover.run(std::move(targets));
  }

  http::Loop loop_;
  FakeS3 s3_;
  Summary summary_;
  std::set<std::string> referenced_;
  int checks_ = 0;
};

TEST_F(LegacyDeleteTest, a_row_written_while_a_delete_is_retried_keeps_its_object) {
  // The first DeleteObjects fails (a 503); meanwhile the application points a row at b.png.
  s3_.fail(Op::kDelete, "image/a.png", Error::of(ErrorKind::kThrottled, "SlowDown", "SlowDown"));
  s3_.before(Op::kDelete, [&](const std::string&) { referenced_.insert("image/b.png"); });
  ASSERT_TRUE(remove({"image/a.png", "image/b.png", "image/c.png"}));
  EXPECT_EQ(checks_, 2);  // once per attempt
  EXPECT_FALSE(s3_.object("legacy", "image/a.png"));
  EXPECT_TRUE(s3_.object("legacy", "image/b.png"));
  EXPECT_FALSE(s3_.object("legacy", "image/c.png"));
  EXPECT_EQ(summary_.objects_deleted, 2u);
  EXPECT_EQ(summary_.objects_kept, 1u);
}

TEST_F(LegacyDeleteTest, an_object_rewritten_after_it_was_judged_is_kept_where_conditions_hold) {
  std::vector<s3::DeleteTarget> targets{{"image/a.png", s3_.object("legacy", "image/a.png")->etag}};
  s3_.put("legacy", "image/a.png", "re-uploaded in place");  // after the judgement
  LegacyDelete remover(
      s3_, loop_, "legacy", [](auto t) -> Result<std::vector<s3::DeleteTarget>> { return t; },
      summary_);
  ASSERT_TRUE(remover.run(std::move(targets)));
  EXPECT_EQ(s3_.object("legacy", "image/a.png")->body, "re-uploaded in place");
  EXPECT_EQ(summary_.objects_kept, 1u);
  ASSERT_FALSE(summary_.problems.empty());
  EXPECT_NE(summary_.problems[0].find("PreconditionFailed"), std::string::npos);
}

TEST_F(LegacyDeleteTest, a_delete_that_keeps_failing_stops_cleanup_and_deletes_nothing) {
  s3_.fail(Op::kDelete, "image/a.png", Error::permanent("AccessDenied"), 100);
  auto st = remove({"image/a.png", "image/b.png"});
  ASSERT_FALSE(st);
  EXPECT_TRUE(s3_.object("legacy", "image/a.png"));
  EXPECT_TRUE(s3_.object("legacy", "image/b.png"));
}

TEST_F(LegacyDeleteTest, a_key_xml_cannot_carry_is_deleted_alone_after_its_own_check) {
  s3_.put("legacy", "image/bell\x07.png", "x");
  ASSERT_TRUE(remove({"image/bell\x07.png", "image/a.png"}));
  EXPECT_FALSE(s3_.object("legacy", "image/bell\x07.png"));
  EXPECT_FALSE(s3_.object("legacy", "image/a.png"));
  EXPECT_EQ(checks_, 2);
  EXPECT_EQ(s3_.delete_requests(), 1u);  // the carriable one in one DeleteObjects
}

}  // namespace
}  // namespace rehome::engine
