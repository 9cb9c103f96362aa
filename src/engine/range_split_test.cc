#include "engine/range_split.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

#include "engine/key_ranges.h"

namespace rehome::engine {
namespace {

ListingStand stand(std::string_view first, std::string_view position, std::string_view last,
                   std::uint64_t received, bool more = true) {
  return ListingStand{"p/", first, position, last, received, more, nullptr};
}

/// The alphabet of avatar keys 1..n under "image/".
KeyAlphabet avatar_alphabet(int n) {
  KeyAlphabet alphabet;
  for (int i = 1; i <= n; ++i) alphabet.add("avatar-" + std::to_string(i) + ".png");
  return alphabet;
}

TEST(RemainingKeysEstimate, is_the_density_so_far_times_the_space_left) {
  // Listed a quarter of the space ("a".."b" of "a".."e") and met 101 keys (100 after the
  // first): about 300 are left.
  EXPECT_NEAR(remaining_keys_estimate(stand("p/a", "p/b", "p/e", 101)), 300, 1);
  // Halfway: as many again.
  EXPECT_NEAR(remaining_keys_estimate(stand("p/a", "p/c", "p/e", 101)), 100, 1);
}

TEST(RemainingKeysEstimate, counts_in_the_keys_own_alphabet) {
  // avatar-10000..12500 listed, the range ends at avatar-2: 12501..19999 (and 1251..1999,
  // 126..199, 13..19) are left, about 8,400.
  const KeyAlphabet alphabet = avatar_alphabet(20000);
  ListingStand s{
      "image/", "image/avatar-10000.png", "image/avatar-12500.png", "image/avatar-2", 2501, true,
      &alphabet};
  const double left = remaining_keys_estimate(s);
  EXPECT_GT(left, 8400 / 2);
  EXPECT_LT(left, 8400 * 2);
  // In bytes, '0'..'9' are 10 of 256 values: the same stand looks 20x fuller.
  s.alphabet = nullptr;
  EXPECT_GT(remaining_keys_estimate(s), 8400 * 10);
}

TEST(RemainingKeysEstimate, one_key_so_far_assumes_as_many_again) {
  EXPECT_EQ(remaining_keys_estimate(stand("p/b", "p/b", "p/e", 1)), 1);
}

TEST(RemainingKeysEstimate, a_first_key_outside_the_stem_counts_from_the_stem) {
  // position and last share "p/m"; the first key lies below it: its coordinate is the origin.
  EXPECT_GT(remaining_keys_estimate(stand("p/a", "p/m1", "p/m9", 500)), 0);
}

TEST(RemainingKeysEstimate, is_zero_when_nothing_can_be_split_off) {
  EXPECT_EQ(remaining_keys_estimate(stand("p/a", "p/b", "", 100)), 0) << "unbounded";
  EXPECT_EQ(remaining_keys_estimate(stand("p/a", "", "p/e", 0)), 0) << "nothing received";
  EXPECT_EQ(remaining_keys_estimate(stand("p/a", "p/b", "p/e", 100, false)), 0) << "no page left";
  EXPECT_EQ(remaining_keys_estimate(stand("p/a", "p/e", "p/e", 100)), 0) << "at the end";
}

TEST(BusiestRange, picks_the_range_with_the_most_keys_left) {
  const std::vector<ListingStand> stands = {
      stand("p/a", "p/b", "p/c", 11),    // ~10 left
      stand("p/c", "p/d", "p/h", 1001),  // ~4,000 left
      stand("p/h", "p/i", "p/j", 3001),  // ~3,000 left
  };
  EXPECT_EQ(busiest_range(stands, 100), 1u);
}

TEST(BusiestRange, none_when_every_range_is_nearly_done) {
  const std::vector<ListingStand> stands = {stand("p/a", "p/b", "p/c", 10),
                                            stand("p/c", "p/d", "p/e", 50)};
  EXPECT_EQ(busiest_range(stands, 2000), std::nullopt);
  EXPECT_EQ(busiest_range({}, 1), std::nullopt);
}

// The keys met so far are the start of the range: after 1,000 of the 55,000 keys between
// avatar-1 and avatar-1n, only '.' and '0' have been met where '1'..'9' follow. The bound must
// still count as far above them, and the estimate must see the range's bulk.
TEST(RemainingKeysEstimate, expects_the_rest_of_a_character_class_met_at_the_start) {
  std::vector<std::string> keys;
  for (int i = 1; i <= 200000; i += 2) keys.push_back("avatar-" + std::to_string(i) + ".png");
  std::sort(keys.begin(), keys.end());
  KeyAlphabet alphabet;
  for (std::size_t i = 0; i < 1000; ++i) alphabet.add(keys[i]);
  const std::string first = "image/" + keys[0], position = "image/" + keys[999];
  const ListingStand s{"image/", first, position, "image/avatar-1n", 1000, true, &alphabet};
  EXPECT_GT(remaining_keys_estimate(s), 2000) << position;
  auto split = choose_split(std::span<const ListingStand>(&s, 1), 2000);
  ASSERT_TRUE(split);
  // The point falls among the range's own keys, not past them all.
  int below = 0, above = 0;
  for (const auto& key : keys) {
    const std::string full = "image/" + key;
    if (compare_keys(full, position) <= 0 || compare_keys(full, "image/avatar-1n") > 0) continue;
    (compare_keys(full, split->point) <= 0 ? below : above) += 1;
  }
  EXPECT_GT(above, (below + above) / 5) << split->point;
  EXPECT_GT(below, (below + above) / 5) << split->point;
}

TEST(SplitPoint, lies_strictly_between_position_and_last) {
  const KeyAlphabet avatars = avatar_alphabet(100);
  for (const KeyAlphabet* alphabet : {static_cast<const KeyAlphabet*>(nullptr), &avatars}) {
    auto p = split_point("image/", "image/avatar-10234.png", "image/avatar-2", alphabet);
    ASSERT_TRUE(p);
    EXPECT_GT(compare_keys(*p, "image/avatar-10234.png"), 0);
    EXPECT_LT(compare_keys(*p, "image/avatar-2"), 0);
    EXPECT_TRUE(p->starts_with("image/"));
    EXPECT_EQ(round_up_to_printable_utf8(*p), *p);
  }
}

// The reason for alphabets: halving bytes would put the point above every decimal id.
TEST(SplitPoint, halves_decimal_ids_where_they_are) {
  const KeyAlphabet alphabet = avatar_alphabet(20000);
  auto p = split_point("image/", "image/avatar-12500.png", "image/avatar-2", &alphabet);
  ASSERT_TRUE(p);
  int below = 0, above = 0;
  for (int i = 1; i <= 20000; ++i) {
    const std::string key = "image/avatar-" + std::to_string(i) + ".png";
    if (compare_keys(key, "image/avatar-12500.png") <= 0 ||
        compare_keys(key, "image/avatar-2") > 0) {
      continue;
    }
    (compare_keys(key, *p) <= 0 ? below : above) += 1;
  }
  EXPECT_GT(above, (below + above) / 4) << *p;
  EXPECT_GT(below, (below + above) / 4) << *p;
  // In bytes, the second half is empty.
  auto bytes = split_point("image/", "image/avatar-12500.png", "image/avatar-2");
  ASSERT_TRUE(bytes);
  EXPECT_GT(compare_keys(*bytes, "image/avatar-19999.png"), 0) << *bytes;
}

TEST(SplitPoint, is_printable_utf8_between_non_ascii_keys) {
  auto p = split_point("p/", "p/\xC3\xA9t\xC3\xA9", "p/\xE2\x82\xAC");
  ASSERT_TRUE(p);
  EXPECT_EQ(round_up_to_printable_utf8(*p), *p);
  EXPECT_GT(compare_keys(*p, "p/\xC3\xA9t\xC3\xA9"), 0);
  EXPECT_LT(compare_keys(*p, "p/\xE2\x82\xAC"), 0);
}

TEST(SplitPoint, none_when_no_point_fits) {
  EXPECT_EQ(split_point("p/", "p/a", ""), std::nullopt) << "unbounded";
  EXPECT_EQ(split_point("p/", "p/b", "p/a"), std::nullopt) << "inverted";
  EXPECT_EQ(split_point("p/", "p/a", "p/a"), std::nullopt) << "empty";
}

// Splitting again and again, as lanes free up, keeps every key in exactly one range.
TEST(SplitPoint, repeated_splits_keep_a_chain_of_ranges) {
  std::vector<KeyRange> ranges = {{"p/", "p/z"}};
  for (int round = 0; round < 40; ++round) {
    KeyRange& donor = ranges[static_cast<std::size_t>(round) % ranges.size()];
    auto p = split_point("p/", donor.start_after, donor.last);
    if (!p) continue;
    KeyRange taken{*p, donor.last};
    donor.last = *p;
    ranges.push_back(taken);
    std::sort(ranges.begin(), ranges.end(),
              [](const KeyRange& a, const KeyRange& b) { return a.start_after < b.start_after; });
  }
  ASSERT_GT(ranges.size(), 20u);
  EXPECT_EQ(ranges.front().start_after, "p/");
  EXPECT_EQ(ranges.back().last, "p/z");
  for (std::size_t i = 0; i + 1 < ranges.size(); ++i) {
    EXPECT_EQ(ranges[i + 1].start_after, ranges[i].last);
    EXPECT_LT(compare_keys(ranges[i].start_after, ranges[i].last), 0);
  }
}

}  // namespace
}  // namespace rehome::engine
