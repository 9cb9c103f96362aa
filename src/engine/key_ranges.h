// Key ranges: a listing cut into contiguous slices that can be listed (and later migrated)
// side by side. A range is (start_after, last]: S3's own start-after is exclusive, and an
// inclusive upper bound lets the next range start after exactly the same string, so ranges
// built from one sorted list of split points never overlap and never leave a gap, whatever
// the split points are. Only the balance between ranges depends on where the points fall.
//
// Keys compare byte-wise (unsigned), as S3 orders them. Split points are spread evenly in the
// byte-string space between the first key and an estimate of the last one, then rounded up to
// valid UTF-8 without control characters: they travel as start-after parameters and come back
// in XML, and a real key is valid UTF-8, so no key lies between a point and its rounding.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rehome::engine {

/// Keys k with start_after < k and, unless `last` is empty, k <= last (byte-wise).
struct KeyRange {
  std::string start_after;  ///< Exclusive lower bound ("" = from the first key).
  std::string last;         ///< Inclusive upper bound ("" = to the end of the prefix).

  /// True when `key` falls in this range.
  bool contains(std::string_view key) const;
  bool operator==(const KeyRange&) const = default;
};

/// What the splitter knows about one listing.
struct SplitInput {
  std::string prefix;       ///< The listing's prefix (the ranges cover only keys under it).
  std::string start_after;  ///< The listing's own start-after ("" = from the start).
  std::string first;        ///< The first key after start_after ("" = none: the listing is empty).
  std::string last_estimate;  ///< An estimate of the last key; any value is safe.
};

/// Byte-wise (unsigned) comparison, as S3 orders keys: negative, zero or positive.
int compare_keys(std::string_view a, std::string_view b);

/// How many leading bytes `a` and `b` share.
std::size_t common_prefix_length(std::string_view a, std::string_view b);

/// Up to `n` contiguous ranges that together cover every key after `in.start_after`, in key
/// order: the first starts after in.start_after, each next one after the previous one's
/// `last`, and the final one has an empty `last` (unbounded). Fewer than `n` when the space
/// between first and last_estimate cannot hold n distinct split points; one when the listing
/// is empty or n <= 1.
std::vector<KeyRange> split_key_ranges(const SplitInput& in, std::size_t n);

/// The smallest string >= `s` that is valid UTF-8 with no character below U+0020, or nullopt
/// when there is none (s begins with a byte no such string can exceed, e.g. 0xFF).
std::optional<std::string> round_up_to_printable_utf8(std::string_view s);

}  // namespace rehome::engine
