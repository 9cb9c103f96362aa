// Splitting a key range while it is being listed. Planned split points are spread evenly in
// byte-string space, and real keys are not (`avatar-<decimal>` puts a fifth of its keys after
// `avatar-1`): a plan can leave one range with most of the work while the other lanes run out
// of ranges. A lane that runs out takes over the second half of the remaining part of the
// busiest range instead; the donor keeps listing up to the new split point. Repeated, this
// converges on balanced lanes whatever the plan was, and never needs to know the keys ahead.
//
// Distances are measured in the alphabet of the keys met so far, character position by
// character position, not in bytes: where decimal ids are, only '0'..'9' (and '.') occur, and
// halfway between "12500" and "2" in bytes is "1\x99", above every such key (the second half
// would be empty), while in the keys' own alphabet it is about "16".
//
// Pure functions: which range to split, and where. The engine persists a split (state_store.h)
// before either side lists past the point, so a killed run resumes with the same cover.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rehome::engine {

/// The byte values met so far at each character position after the listing's prefix.
class KeyAlphabet {
 public:
  static constexpr std::size_t kPositions = 24;  ///< Past these, every byte counts as met.

  /// Adds the bytes of a key, given without the listing's prefix.
  void add(std::string_view suffix);
  /// The bytes met at `position` after the prefix (every byte when none were, or past kPositions).
  std::bitset<256> at(std::size_t position) const;

 private:
  std::array<std::bitset<256>, kPositions> seen_;
};

/// Where one range's listing stands in this run.
struct ListingStand {
  std::string_view prefix;    ///< The listing's prefix (every key and bound starts with it).
  std::string_view first;     ///< The first key this run received in the range ("" = none yet).
  std::string_view position;  ///< The last key received so far ("" = none yet).
  std::string_view last;      ///< The range's inclusive bound ("" = unbounded).
  std::uint64_t keys_received = 0;
  bool more = false;                      ///< Pages remain to be asked for.
  const KeyAlphabet* alphabet = nullptr;  ///< Of the keys received (null: every byte).
};

/// Keys likely left in the range after `position`: the density met so far (keys per unit of
/// key space between the first key received and position) times the space left up to `last`.
/// (Measured from the first key, not from where the listing began: the first range of every
/// plan begins after "", which would dilute the density over empty space.) 0 when nothing can
/// be split off: unbounded, nothing received yet, or no page left to ask for (everything left
/// is already buffered or in flight).
double remaining_keys_estimate(const ListingStand& stand);

/// The index of the stand with the most keys likely left, if that is at least `min_remaining`.
std::optional<std::size_t> busiest_range(std::span<const ListingStand> stands,
                                         double min_remaining);

/// An estimate of the last key of an unbounded range, so that it can be split too: under
/// `prefix`, as long as `position`'s suffix, each byte the highest met at its place (the keys
/// met so far stand for those to come). Keys past it are no loss: a range split at a point
/// below it stays unbounded above the point.
std::string estimated_last(std::string_view prefix, std::string_view position,
                           const KeyAlphabet& alphabet);

/// Which range to split, and where.
struct Split {
  std::size_t index = 0;  ///< Into the stands given.
  std::string point;      ///< The donor ends here; the new range is (point, last].
};

/// The busiest range (at least `min_remaining` keys likely left) and its split point, if the
/// space it has left holds one.
std::optional<Split> choose_split(std::span<const ListingStand> stands, double min_remaining);

/// A point p with position < p < last, about halfway in the key space of `alphabet`, under
/// `prefix` and valid printable UTF-8 (key_ranges.h); nullopt when the space between them
/// holds none.
std::optional<std::string> split_point(std::string_view prefix, std::string_view position,
                                       std::string_view last,
                                       const KeyAlphabet* alphabet = nullptr);

}  // namespace rehome::engine
