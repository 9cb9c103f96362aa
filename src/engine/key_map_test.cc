#include "engine/key_map.h"

#include <gtest/gtest.h>

namespace rehome::engine {
namespace {

TEST(KeyMap, maps_legacy_key_to_production_by_swapping_the_prefix) {
  KeyMap map("image/", "avatar/");
  EXPECT_EQ(map.to_production("image/avatar-32425.png"), "avatar/avatar-32425.png");
  EXPECT_EQ(map.to_production("image/a b+c%~é.png"), "avatar/a b+c%~é.png");
  EXPECT_EQ(map.to_production("image/"), "avatar/");
}

TEST(KeyMap, refuses_keys_outside_the_prefix) {
  KeyMap map("image/", "avatar/");
  EXPECT_EQ(map.to_production("avatar/x.png"), std::nullopt);
  EXPECT_EQ(map.to_production("images/x.png"), std::nullopt);
  EXPECT_EQ(map.to_production("imag"), std::nullopt);
}

TEST(KeyMap, cuts_the_suffix_only_under_the_prefix) {
  EXPECT_EQ(KeyMap::suffix("image/a/b.png", "image/"), "a/b.png");
  EXPECT_EQ(KeyMap::suffix("image/", "image/"), "");
  EXPECT_EQ(KeyMap::suffix("images/a.png", "image/"), std::nullopt);
  EXPECT_EQ(KeyMap::suffix("imag", "image/"), std::nullopt);
  EXPECT_EQ(KeyMap::suffix_of_listed("image/x", "image/"), "x");
  EXPECT_THROW(KeyMap::suffix_of_listed("other/x", "image/"), std::logic_error);
}

TEST(KeyMap, gives_the_same_mapping_as_sql_with_the_prefixes_as_parameters) {
  EXPECT_EQ(KeyMap::sql_is_under("t.\"path\"", "$3"), "starts_with(t.\"path\", $3::text)");
  EXPECT_EQ(KeyMap::sql_suffix("\"path\"", "$1"),
            "substr(\"path\", char_length($1::text) + 1) COLLATE \"C\"");
  EXPECT_EQ(KeyMap::sql_swap_prefix("t.\"path\"", "$3", "$4"),
            "$4::text || substr(t.\"path\", char_length($3::text) + 1)");
  EXPECT_EQ(KeyMap::sql_join("$1", "l.suffix"), "$1::text || l.suffix");
}

TEST(KeyMap, keeps_byte_order_so_listings_merge_without_sorting) {
  KeyMap map("image/", "avatar/");
  const char* keys[] = {"image/a", "image/a.png", "image/a/b", "image/b", "image/é"};
  for (std::size_t i = 1; i < std::size(keys); ++i) {
    ASSERT_LT(std::string(keys[i - 1]), std::string(keys[i]));
    EXPECT_LT(*map.to_production(keys[i - 1]), *map.to_production(keys[i]));
  }
}

}  // namespace
}  // namespace rehome::engine
