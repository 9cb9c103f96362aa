// The merge step of two listings (take_twin) on the in-tree fake S3.
#include "engine/lister.h"

#include <gtest/gtest.h>

#include "fake_s3.h"

namespace rehome::engine {
namespace {

using fakes::FakeS3;

class TakeTwin : public ::testing::Test {
 protected:
  TakeTwin() {
    for (const char* key : {"avatar/a", "avatar/b", "avatar/d", "avatar/e"}) {
      s3_.put("production-s3", key, key);
    }
  }
  Lister production(int page_size = 1000) {
    return Lister(
        s3_, "production-s3", "avatar/", "", [] {}, "", page_size);
  }
  FakeS3 s3_;  // Answers at once: every page is there when asked for.
};

TEST_F(TakeTwin, finds_the_twin_and_skips_what_only_production_holds) {
  Lister p = production();
  p.prefetch();
  auto b = take_twin("b", p);
  ASSERT_TRUE(b.ready);
  ASSERT_TRUE(b.twin);
  EXPECT_EQ(b.twin->key, "avatar/b");
  auto c = take_twin("c", p);
  EXPECT_TRUE(c.ready);
  EXPECT_FALSE(c.twin);
  auto e = take_twin("e", p);
  ASSERT_TRUE(e.twin) << "avatar/d, which has no legacy twin, is skipped";
  EXPECT_EQ(e.twin->key, "avatar/e");
  auto z = take_twin("z", p);
  EXPECT_TRUE(z.ready);
  EXPECT_FALSE(z.twin);
}

TEST_F(TakeTwin, a_failed_production_listing_is_an_error_never_no_twin) {
  Lister p = production(/*page_size=*/2);
  s3_.fail(FakeS3::Op::kList, "avatar/", fakes::throttled("avatar/"), 1);
  // The first page fails outright.
  p.prefetch();
  auto first = take_twin("a", p);
  EXPECT_FALSE(first.ready);
  ASSERT_TRUE(first.error);
  EXPECT_EQ(first.error->kind, ErrorKind::kThrottled);
}

TEST_F(TakeTwin, a_listing_that_fails_after_some_pages_decides_only_what_it_has_seen) {
  Lister p = production(/*page_size=*/2);
  p.prefetch();  // avatar/a, avatar/b
  ASSERT_TRUE(take_twin("a", p).twin);
  s3_.fail(FakeS3::Op::kList, "avatar/", fakes::throttled("avatar/"), 1);
  auto b = take_twin("b", p);  // Popping a fetches the next page, which fails.
  ASSERT_TRUE(b.ready);
  ASSERT_TRUE(b.twin) << "avatar/b was already received";
  auto d = take_twin("d", p);
  EXPECT_FALSE(d.ready);
  ASSERT_TRUE(d.error) << "beyond what was received nothing is known";
}

}  // namespace
}  // namespace rehome::engine
