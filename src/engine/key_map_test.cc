#include "engine/key_map.h"

#include <gtest/gtest.h>

#include "engine/object_decision.h"

namespace rehome::engine {
namespace {

TEST(KeyMap, maps_legacy_key_to_production_by_swapping_the_prefix) {
  KeyMap map("image/", "avatar/");
  EXPECT_EQ(map.to_production("image/avatar-32425.png"), "avatar/avatar-32425.png");
  EXPECT_EQ(map.to_production("image/a b+c%~é.png"), "avatar/a b+c%~é.png");
  EXPECT_EQ(map.to_production("image/"), "avatar/");
  EXPECT_EQ(map.to_legacy("avatar/x/y.png"), "image/x/y.png");
}

TEST(KeyMap, refuses_keys_outside_the_prefix) {
  KeyMap map("image/", "avatar/");
  EXPECT_EQ(map.to_production("avatar/x.png"), std::nullopt);
  EXPECT_EQ(map.to_production("images/x.png"), std::nullopt);
  EXPECT_EQ(map.to_production("imag"), std::nullopt);
  EXPECT_EQ(map.to_legacy("image/x.png"), std::nullopt);
}

TEST(KeyMap, classifies_every_kind_of_path) {
  KeyMap map("image/", "avatar/");
  struct Case {
    std::optional<std::string_view> path;
    PathKind kind;
  };
  const Case cases[] = {
      {std::nullopt, PathKind::kNull},         {"", PathKind::kEmpty},
      {"image/a.png", PathKind::kLegacy},      {"avatar/a.png", PathKind::kProduction},
      {"Image/a.png", PathKind::kOther},       {"/image/a.png", PathKind::kOther},
      {"https://cdn/x.png", PathKind::kOther},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(map.classify(c.path), c.kind) << (c.path ? *c.path : "NULL");
  }
}

TEST(KeyMap, keeps_byte_order_so_listings_merge_without_sorting) {
  KeyMap map("image/", "avatar/");
  const char* keys[] = {"image/a", "image/a.png", "image/a/b", "image/b", "image/é"};
  for (std::size_t i = 1; i < std::size(keys); ++i) {
    ASSERT_LT(std::string(keys[i - 1]), std::string(keys[i]));
    EXPECT_LT(*map.to_production(keys[i - 1]), *map.to_production(keys[i]));
  }
}

TEST(ObjectDecision, copies_when_production_has_no_twin) {
  s3::ObjectInfo legacy{"image/a", "abc", 10, "", ""};
  EXPECT_EQ(decide(legacy, std::nullopt), ObjectAction::kCopy);
}

TEST(ObjectDecision, skips_an_identical_twin) {
  s3::ObjectInfo legacy{"image/a", "abc", 10, "", ""};
  s3::ObjectInfo prod{"avatar/a", "abc", 10, "", ""};
  EXPECT_EQ(decide(legacy, prod), ObjectAction::kAlreadyCopied);
}

TEST(ObjectDecision, reports_a_conflict_when_etag_or_size_differ) {
  s3::ObjectInfo legacy{"image/a", "abc", 10, "", ""};
  EXPECT_EQ(decide(legacy, s3::ObjectInfo{"avatar/a", "abd", 10, "", ""}), ObjectAction::kConflict);
  EXPECT_EQ(decide(legacy, s3::ObjectInfo{"avatar/a", "abc", 11, "", ""}), ObjectAction::kConflict);
  EXPECT_EQ(decide(legacy, s3::ObjectInfo{"avatar/a", "", 10, "", ""}), ObjectAction::kConflict);
}

TEST(ObjectDecision, recognises_multipart_etags) {
  EXPECT_TRUE(is_multipart_etag("9b2cf535f27731c974343645a3985328-3"));
  EXPECT_FALSE(is_multipart_etag("9b2cf535f27731c974343645a3985328"));
}

}  // namespace
}  // namespace rehome::engine
