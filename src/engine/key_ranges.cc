#include "engine/key_ranges.h"

#include <algorithm>
#include <cstdint>

namespace rehome::engine {

namespace {

// Split points sit at least this many units (of the chosen depth) apart per range, so that
// rounding to whole units costs at most 1/16 of a range's share.
constexpr std::uint64_t kMinUnitsPerRange = 16;
// Eight bytes after the common prefix fit a uint64; deeper differences do not matter for
// balance (they would separate keys that share their first eight differing bytes).
constexpr std::size_t kMaxDepth = 8;
// Bounds n so that (diff % n) * i cannot overflow 64 bits.
constexpr std::size_t kMaxRanges = 1 << 16;

constexpr char32_t kMinChar = 0x20;  // Below: control characters XML 1.0 cannot carry.
constexpr char32_t kMaxChar = 0x10FFFF;

std::string encode_utf8(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

bool is_surrogate(char32_t c) { return c >= 0xD800 && c <= 0xDFFF; }

/// Length of the printable UTF-8 character that starts s (0 when s does not start with one).
std::size_t printable_char_length(std::string_view s) {
  const auto lead = static_cast<unsigned char>(s[0]);
  std::size_t length = lead < 0x80   ? 1
                       : lead < 0xC2 ? 0
                       : lead < 0xE0 ? 2
                       : lead < 0xF0 ? 3
                       : lead < 0xF5 ? 4
                                     : 0;
  if (length == 0 || length > s.size()) return 0;
  char32_t c = length == 1 ? lead : lead & (0xFF >> (length + 1));
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    c = (c << 6) | (b & 0x3F);
  }
  // Overlong forms encode a character in more bytes than it needs: not valid UTF-8.
  const char32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < min_for_length[length] || c > kMaxChar || is_surrogate(c) || c < kMinChar) return 0;
  return length;
}

/// The printable character with the smallest encoding greater than `s`. UTF-8 preserves code
/// point order, so this is a binary search over code points.
std::optional<std::string> smallest_char_above(std::string_view s) {
  auto above = [s](char32_t c) { return compare_keys(encode_utf8(c), s) > 0; };
  if (!above(kMaxChar)) return std::nullopt;
  char32_t lo = kMinChar, hi = kMaxChar;
  while (lo < hi) {
    const char32_t mid = lo + (hi - lo) / 2;
    if (above(mid))
      hi = mid;
    else
      lo = mid + 1;
  }
  return encode_utf8(is_surrogate(lo) ? 0xE000 : lo);
}

/// Bytes [from, from + depth) of `key` as a big-endian number; missing bytes count as 0.
std::uint64_t digits(std::string_view key, std::size_t from, std::size_t depth) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < depth; ++i) {
    const std::size_t at = from + i;
    value = (value << 8) | (at < key.size() ? static_cast<unsigned char>(key[at]) : 0u);
  }
  return value;
}

/// `value` as `depth` big-endian bytes, trailing zero bytes dropped (which keeps the order:
/// a string is smaller than any longer string it is a prefix of).
std::string to_bytes(std::uint64_t value, std::size_t depth) {
  std::string out(depth, '\0');
  for (std::size_t i = depth; i-- > 0; value >>= 8) out[i] = static_cast<char>(value & 0xFF);
  while (!out.empty() && out.back() == '\0') out.pop_back();
  return out;
}

/// The n - 1 evenly spaced split points between first and last, before rounding: the bytes
/// after their common prefix read as a base-256 fraction, as deep as balance needs.
std::vector<std::string> raw_split_points(std::string_view first, std::string_view last,
                                          std::size_t n) {
  const std::size_t common = common_prefix_length(first, last);
  std::size_t depth = 1;
  std::uint64_t low = 0, span = 0;
  for (;; ++depth) {
    low = digits(first, common, depth);
    span = digits(last, common, depth) - low;
    if (span >= kMinUnitsPerRange * n || depth == kMaxDepth) break;
  }
  std::vector<std::string> points;
  const std::string_view stem = first.substr(0, common);
  for (std::size_t i = 1; i < n; ++i) {
    // low + span * i / n without overflow (n <= kMaxRanges).
    const std::uint64_t offset = (span / n) * i + (span % n) * i / n;
    points.push_back(std::string(stem) + to_bytes(low + offset, depth));
  }
  return points;
}

}  // namespace

std::size_t common_prefix_length(std::string_view a, std::string_view b) {
  const auto end = std::mismatch(
      a.begin(), a.begin() + static_cast<std::ptrdiff_t>(std::min(a.size(), b.size())), b.begin());
  return static_cast<std::size_t>(end.first - a.begin());
}

int compare_keys(std::string_view a, std::string_view b) {
  // char_traits<char> compares as unsigned char (like memcmp): S3's byte order.
  return a.compare(b);
}

bool KeyRange::contains(std::string_view key) const {
  return compare_keys(key, start_after) > 0 && (last.empty() || compare_keys(key, last) <= 0);
}

std::optional<std::string> round_up_to_printable_utf8(std::string_view s) {
  std::vector<std::size_t> starts;  // Where each whole printable character of s begins.
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t length = printable_char_length(s.substr(at));
    if (length == 0) break;
    starts.push_back(at);
    at += length;
  }
  if (at == s.size()) return std::string(s);
  // Keep the valid head and raise the rest to the next character; if none is above it, carry
  // into the character before (as 0x19 -> 0x20 but 0xFF has to carry).
  for (;;) {
    if (auto next = smallest_char_above(s.substr(at))) return std::string(s.substr(0, at)) + *next;
    if (starts.empty()) return std::nullopt;
    at = starts.back();
    starts.pop_back();
  }
}

std::vector<KeyRange> split_key_ranges(const SplitInput& in, std::size_t n) {
  std::vector<KeyRange> ranges;
  std::string after = in.start_after;
  const std::string& last =
      compare_keys(in.last_estimate, in.first) > 0 ? in.last_estimate : in.first;
  if (n > 1 && !in.first.empty() && last != in.first) {
    for (const auto& raw : raw_split_points(in.first, last, std::min(n, kMaxRanges))) {
      auto point = round_up_to_printable_utf8(raw);
      // Rounding is monotonic but not injective: equal neighbours merge, and a point at or
      // before start_after would make an empty (or inverted) range.
      // A point carried out of the prefix would only bound empty ranges.
      if (!point || compare_keys(*point, after) <= 0 || !point->starts_with(in.prefix)) continue;
      ranges.push_back({after, *point});
      after = std::move(*point);
    }
  }
  ranges.push_back({std::move(after), ""});
  return ranges;
}

}  // namespace rehome::engine
