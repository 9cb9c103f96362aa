#include "engine/key_ranges.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace rehome::engine {
namespace {

bool is_printable_utf8(const std::string& s) { return round_up_to_printable_utf8(s) == s; }

/// The ranges form one chain: from start_after, each after the previous last, strictly rising,
/// and the final one unbounded.
void expect_chain(const std::vector<KeyRange>& ranges, const std::string& start_after) {
  ASSERT_FALSE(ranges.empty());
  EXPECT_EQ(ranges.front().start_after, start_after);
  EXPECT_EQ(ranges.back().last, "");
  for (std::size_t i = 0; i + 1 < ranges.size(); ++i) {
    EXPECT_FALSE(ranges[i].last.empty()) << "range " << i;
    EXPECT_GT(compare_keys(ranges[i].last, ranges[i].start_after), 0) << "range " << i;
    EXPECT_EQ(ranges[i + 1].start_after, ranges[i].last) << "range " << i;
  }
}

/// Every key after start_after lies in exactly one range, and the ranges in order list them in
/// S3's order.
void expect_partition(const std::vector<KeyRange>& ranges, const std::set<std::string>& keys,
                      const std::string& start_after) {
  std::vector<std::string> expected, concatenated;
  for (const auto& key : keys) {
    if (compare_keys(key, start_after) > 0) expected.push_back(key);
    int holders = 0;
    for (const auto& range : ranges) holders += range.contains(key) ? 1 : 0;
    EXPECT_EQ(holders, compare_keys(key, start_after) > 0 ? 1 : 0) << "key " << key;
  }
  for (const auto& range : ranges) {
    for (const auto& key : keys) {
      if (range.contains(key)) concatenated.push_back(key);
    }
  }
  EXPECT_EQ(concatenated, expected);
}

TEST(KeyRanges, an_empty_listing_is_one_unbounded_range) {
  const auto ranges = split_key_ranges({"image/", "image/x", "", ""}, 8);
  EXPECT_EQ(ranges, (std::vector<KeyRange>{{"image/x", ""}}));
}

TEST(KeyRanges, one_key_or_first_equal_to_last_is_one_range) {
  EXPECT_EQ(split_key_ranges({"p/", "", "p/a", "p/a"}, 8).size(), 1u);
  // An estimate below the first key is as good as none.
  EXPECT_EQ(split_key_ranges({"p/", "", "p/m", "p/a"}, 8).size(), 1u);
}

TEST(KeyRanges, n_of_one_is_the_whole_listing) {
  EXPECT_EQ(split_key_ranges({"p/", "p/0", "p/1", "p/9"}, 1), (std::vector<KeyRange>{{"p/0", ""}}));
}

TEST(KeyRanges, splits_evenly_after_the_common_prefix) {
  // 'a' (0x61) to 'q' (0x71): 16 steps of one byte, so 4 ranges split at e, i, m.
  const auto ranges = split_key_ranges({"img/", "", "img/a", "img/q"}, 4);
  ASSERT_EQ(ranges.size(), 4u);
  EXPECT_EQ(ranges[0], (KeyRange{"", "img/e"}));
  EXPECT_EQ(ranges[1], (KeyRange{"img/e", "img/i"}));
  EXPECT_EQ(ranges[2], (KeyRange{"img/i", "img/m"}));
  EXPECT_EQ(ranges[3], (KeyRange{"img/m", ""}));
}

TEST(KeyRanges, goes_deeper_than_one_byte_when_the_first_bytes_are_close) {
  // '0' to '9' is 9 units of one byte: too coarse for 8 ranges, so two bytes are used.
  const auto ranges =
      split_key_ranges({"image/", "", "image/avatar-0.png", "image/avatar-99998.png"}, 8);
  EXPECT_EQ(ranges.size(), 8u);
  expect_chain(ranges, "");
  for (const auto& range : ranges) EXPECT_TRUE(is_printable_utf8(range.last)) << range.last;
}

TEST(KeyRanges, gives_fewer_ranges_when_the_space_is_too_small) {
  // "a" and "a\0...\0\x01" differ only beyond eight bytes: no room for any split point but "a".
  const std::string last = std::string("a") + std::string(8, '\0') + "\x01";
  const auto ranges = split_key_ranges({"", "", "a", last}, 16);
  EXPECT_LE(ranges.size(), 2u);
  expect_chain(ranges, "");
}

TEST(KeyRanges, split_points_of_non_ascii_keys_are_valid_utf8) {
  // é (C3 A9) to ж (D0 B6) to 😀 (F0 9F 98 80).
  const auto ranges = split_key_ranges({"", "", "\xC3\xA9", "\xF0\x9F\x98\x80"}, 16);
  EXPECT_GT(ranges.size(), 8u);
  expect_chain(ranges, "");
  for (const auto& range : ranges) EXPECT_TRUE(is_printable_utf8(range.last)) << range.last;
}

TEST(KeyRanges, never_starts_a_range_at_or_before_start_after) {
  // The estimate is far below start_after's neighbourhood: points that round to or below it go.
  const auto ranges = split_key_ranges({"p/", "p/b\x7f", "p/b\x7f\x7f", "p/c"}, 16);
  expect_chain(ranges, "p/b\x7f");
}

TEST(RoundUpToPrintableUtf8, keeps_printable_utf8_as_it_is) {
  EXPECT_EQ(round_up_to_printable_utf8("image/a b+é😀"), "image/a b+é😀");
  EXPECT_EQ(round_up_to_printable_utf8(""), "");
}

TEST(RoundUpToPrintableUtf8, raises_what_no_key_can_hold_to_the_next_character) {
  EXPECT_EQ(round_up_to_printable_utf8(std::string("a\x01z", 3)), "a ");
  EXPECT_EQ(round_up_to_printable_utf8(std::string("a\0", 2)), "a ");
  EXPECT_EQ(round_up_to_printable_utf8("a\x80"), "a\xC2\x80");      // lone continuation byte
  EXPECT_EQ(round_up_to_printable_utf8("a\xC3"), "a\xC3\x80");      // truncated character
  EXPECT_EQ(round_up_to_printable_utf8("a\xC3\xC0"), "a\xC4\x80");  // bad continuation
  EXPECT_EQ(round_up_to_printable_utf8("a\xED\xA0\x80"), "a\xEE\x80\x80");  // surrogate
  EXPECT_EQ(round_up_to_printable_utf8("a\xFF"), "b");                      // carries into 'a'
  EXPECT_EQ(round_up_to_printable_utf8("\xFF"), std::nullopt);
}

TEST(RoundUpToPrintableUtf8, is_monotonic_and_never_lowers) {
  std::mt19937 rng(7);
  std::vector<std::string> samples;
  for (int i = 0; i < 2000; ++i) {
    std::string s(1 + rng() % 4, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);
    samples.push_back(s);
  }
  std::sort(samples.begin(), samples.end());
  std::optional<std::string> previous;
  for (const auto& s : samples) {
    const auto rounded = round_up_to_printable_utf8(s);
    if (!rounded) continue;  // Only strings above every printable one; all later ones too.
    EXPECT_GE(compare_keys(*rounded, s), 0);
    EXPECT_TRUE(is_printable_utf8(*rounded));
    if (previous) {
      EXPECT_GE(compare_keys(*rounded, *previous), 0) << s;
    }
    previous = rounded;
  }
}

/// A random key of `alphabet` bytes, sometimes sharing a long common stem.
std::string random_key(std::mt19937& rng, const std::string& prefix, const std::string& alphabet) {
  std::string key = prefix;
  if (rng() % 2) key += "shared-stem-";
  const std::size_t length = rng() % 12;
  for (std::size_t i = 0; i < length; ++i) key += alphabet[rng() % alphabet.size()];
  return key;
}

std::string all_bytes() {
  std::string out;
  for (int b = 1; b < 256; ++b) out += static_cast<char>(b);
  return out;
}

class KeyRangesProperty : public ::testing::TestWithParam<std::string> {};

TEST_P(KeyRangesProperty, partitions_random_key_sets_exactly_and_in_order) {
  std::mt19937 rng(42);
  const std::string prefix = "pre/";
  for (int round = 0; round < 300; ++round) {
    std::set<std::string> keys;  // std::string's order is S3's byte order.
    const std::size_t count = rng() % 200;
    for (std::size_t i = 0; i < count; ++i) keys.insert(random_key(rng, prefix, GetParam()));
    const std::vector<std::string> sorted(keys.begin(), keys.end());

    std::string start_after;
    if (!sorted.empty() && rng() % 3 == 0) start_after = sorted[rng() % sorted.size()];
    const auto first = keys.upper_bound(start_after);
    SplitInput in{prefix, start_after, first == keys.end() ? "" : *first, ""};
    // The estimate: the true last key, a wrong key, or nothing at all.
    switch (rng() % 3) {
      case 0: in.last_estimate = sorted.empty() ? "" : sorted.back(); break;
      case 1: in.last_estimate = random_key(rng, prefix, GetParam()); break;
      default: break;
    }
    const std::size_t n = 1 + rng() % 40;
    const auto ranges = split_key_ranges(in, n);
    SCOPED_TRACE("round " + std::to_string(round) + ", n " + std::to_string(n));
    EXPECT_LE(ranges.size(), n);
    expect_chain(ranges, start_after);
    expect_partition(ranges, keys, start_after);
    for (const auto& range : ranges) EXPECT_TRUE(is_printable_utf8(range.last));
  }
}

const std::string kAlphabets[] = {"0123456789", "abcdefghijklmnopqrstuvwxyz-./",
                                  "\xC3\xA9\xD0\xB6\xF0\x9F\x98\x80"
                                  "ab",
                                  all_bytes()};

std::string alphabet_name(const ::testing::TestParamInfo<std::string>& info) {
  static const char* const kNames[] = {"digits", "ascii", "utf8", "any_byte"};
  return kNames[info.index];
}

INSTANTIATE_TEST_SUITE_P(Alphabets, KeyRangesProperty, ::testing::ValuesIn(kAlphabets),
                         alphabet_name);

TEST(KeyRanges, balances_uniform_keys_within_a_factor_of_two) {
  // Keys spread evenly in byte space: the ranges should hold similar shares.
  std::set<std::string> keys;
  std::mt19937 rng(3);
  while (keys.size() < 5000) {
    std::string key = "k/";
    for (int i = 0; i < 6; ++i) key += static_cast<char>('a' + rng() % 26);
    keys.insert(key);
  }
  const auto ranges = split_key_ranges({"k/", "", *keys.begin(), *keys.rbegin()}, 8);
  ASSERT_EQ(ranges.size(), 8u);
  for (const auto& range : ranges) {
    const auto held =
        std::count_if(keys.begin(), keys.end(), [&](const auto& k) { return range.contains(k); });
    EXPECT_GT(held, 5000 / 8 / 2);
    EXPECT_LT(held, 5000 / 8 * 2);
  }
}

}  // namespace
}  // namespace rehome::engine
