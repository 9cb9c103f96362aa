#include "engine/range_split.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "engine/key_ranges.h"

namespace rehome::engine {

namespace {

// Digits resolved after the common stem: deep enough to tell apart keys that share everything
// up to their last few characters.
constexpr std::size_t kDepth = 8;

/// Keys as fractions in [0, 1), digit by digit after the stem: digit i is the rank of the
/// key's byte at that position among the alphabet's bytes for it, in radix (their count + 1):
/// rank 0 is "no byte" (the key ended), a byte outside the alphabet ranks halfway between its
/// neighbours (a bound such as "avatar-1n" must stay above every "avatar-1<digit>").
/// Order-preserving.
class KeySpace {
 public:
  KeySpace(std::string_view prefix, std::string_view stem, const KeyAlphabet* alphabet)
      : stem_(stem) {
    for (std::size_t i = 0; i < kDepth; ++i) {
      const std::size_t position = stem.size() - prefix.size() + i;
      const std::bitset<256> met = alphabet ? alphabet->at(position) : std::bitset<256>().set();
      Digit& digit = digits_[i];
      for (std::size_t b = 0; b < 256; ++b) {
        const bool member = met.test(b);
        digit.rank[b] = static_cast<long double>(digit.symbols.size()) + (member ? 1.0L : 0.5L);
        if (member) digit.symbols.push_back(static_cast<unsigned char>(b));
      }
      digit.radix = static_cast<long double>(digit.symbols.size() + 1);
    }
  }

  long double value(std::string_view key) const {
    if (!key.starts_with(stem_)) return compare_keys(key, stem_) < 0 ? 0.0L : 1.0L;
    long double value = 0, scale = 1;
    for (std::size_t i = 0; i < kDepth; ++i) {
      const std::size_t at = stem_.size() + i;
      if (at >= key.size()) break;
      scale /= digits_[i].radix;
      value += digits_[i].rank[static_cast<unsigned char>(key[at])] * scale;
    }
    return value;
  }

  /// A key whose value is about `v`: the stem, then the symbols v's digits name.
  std::string key_at(long double v) const {
    std::string key(stem_);
    for (const Digit& digit : digits_) {
      v *= digit.radix;
      const auto d = static_cast<std::size_t>(std::floor(v));
      v -= static_cast<long double>(d);
      if (d == 0) break;  // "No byte": the key ends here.
      key += static_cast<char>(digit.symbols[std::min(d, digit.symbols.size()) - 1]);
    }
    return key;
  }

 private:
  struct Digit {
    std::vector<unsigned char> symbols;  // The alphabet at this position, ascending.
    // Per byte: the symbols below it, + 1 if it is one, + 0.5 if not.
    std::array<long double, 256> rank{};
    long double radix = 257;
  };
  std::string_view stem_;
  std::array<Digit, kDepth> digits_;
};

std::string_view common_stem(std::string_view a, std::string_view b) {
  return a.substr(0, common_prefix_length(a, b));
}

bool strictly_between(std::string_view p, std::string_view low, std::string_view high) {
  return compare_keys(p, low) > 0 && compare_keys(p, high) < 0;
}

}  // namespace

void KeyAlphabet::add(std::string_view suffix) {
  const std::size_t n = std::min(suffix.size(), kPositions);
  for (std::size_t i = 0; i < n; ++i) seen_[i].set(static_cast<unsigned char>(suffix[i]));
}

std::bitset<256> KeyAlphabet::at(std::size_t position) const {
  if (position >= kPositions || seen_[position].none()) return std::bitset<256>().set();
  // A digit met means the other digits are likely to come (the keys met so far are the start
  // of the range: "avatar-10..." shows only '0' where '1'..'9' follow); likewise letters.
  std::bitset<256> met = seen_[position];
  for (auto [from, to] : {std::pair{'0', '9'}, std::pair{'a', 'z'}, std::pair{'A', 'Z'}}) {
    bool any = false;
    for (char c = from; c <= to; ++c) any = any || met.test(static_cast<unsigned char>(c));
    for (char c = from; any && c <= to; ++c) met.set(static_cast<unsigned char>(c));
  }
  return met;
}

double remaining_keys_estimate(const ListingStand& stand) {
  if (!stand.more || stand.last.empty() || stand.keys_received == 0 ||
      compare_keys(stand.position, stand.last) >= 0 || !stand.position.starts_with(stand.prefix) ||
      !stand.last.starts_with(stand.prefix)) {
    return 0;
  }
  // Coordinates after the bytes that position and last share, so that both ends of the space
  // left are resolved even when the whole range lies under one long common prefix.
  const KeySpace space(stand.prefix, common_stem(stand.position, stand.last), stand.alphabet);
  const long double from = space.value(stand.first);
  const long double at = space.value(stand.position);
  const long double to = space.value(stand.last);
  // One key, or keys closer than the coordinates resolve: assume as many again are left.
  if (at <= from) return static_cast<double>(stand.keys_received);
  // keys_received - 1 keys lie in (first, position].
  const auto between = static_cast<long double>(stand.keys_received - 1);
  return static_cast<double>(between * std::max(0.0L, to - at) / (at - from));
}

std::string estimated_last(std::string_view prefix, std::string_view position,
                           const KeyAlphabet& alphabet) {
  if (!position.starts_with(prefix)) return {};
  std::string last(prefix);
  const std::size_t length = position.size() - prefix.size();
  for (std::size_t i = 0; i < length; ++i) {
    const auto met = alphabet.at(i);
    int highest = 0;
    for (int b = 255; b > 0; --b) {
      if (met.test(static_cast<std::size_t>(b))) {
        highest = b;
        break;
      }
    }
    if (highest == 0) break;
    last.push_back(static_cast<char>(highest));
  }
  // Never below the position itself: then nothing is left to estimate.
  return compare_keys(last, position) > 0 ? last : std::string();
}

std::optional<std::size_t> busiest_range(std::span<const ListingStand> stands,
                                         double min_remaining) {
  std::optional<std::size_t> best;
  double most = 0;
  for (std::size_t i = 0; i < stands.size(); ++i) {
    const double left = remaining_keys_estimate(stands[i]);
    if (left >= min_remaining && left > most) {
      most = left;
      best = i;
    }
  }
  return best;
}

std::optional<std::string> split_point(std::string_view prefix, std::string_view position,
                                       std::string_view last, const KeyAlphabet* alphabet) {
  if (last.empty() || compare_keys(position, last) >= 0 || !position.starts_with(prefix) ||
      !last.starts_with(prefix)) {
    return std::nullopt;
  }
  const KeySpace space(prefix, common_stem(position, last), alphabet);
  const long double at = space.value(position), to = space.value(last);
  if (at < to) {
    auto point = round_up_to_printable_utf8(space.key_at(at + (to - at) / 2));
    if (point && point->starts_with(prefix) && strictly_between(*point, position, last)) {
      return point;
    }
  }
  // The alphabet cannot express a point in between (the keys left use other bytes): halve
  // the byte-string space instead (the splitter's one point lies strictly after position).
  const auto halves = split_key_ranges(
      {std::string(prefix), std::string(position), std::string(position), std::string(last)}, 2);
  if (halves.size() != 2 || !strictly_between(halves.front().last, position, last)) {
    return std::nullopt;
  }
  return halves.front().last;
}

std::optional<Split> choose_split(std::span<const ListingStand> stands, double min_remaining) {
  const auto busiest = busiest_range(stands, min_remaining);
  if (!busiest) return std::nullopt;
  const ListingStand& donor = stands[*busiest];
  auto point = split_point(donor.prefix, donor.position, donor.last, donor.alphabet);
  if (!point) return std::nullopt;
  return Split{*busiest, std::move(*point)};
}

}  // namespace rehome::engine
