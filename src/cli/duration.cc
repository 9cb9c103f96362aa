#include "cli/duration.h"

#include <fmt/format.h>

namespace rehome::cli {

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return Error::invalid_input(
        fmt::format("\"{}\" is not a duration: use a number with a unit, such as 24h, "
                    "90m, 45s, 2d or 1h30m",
                    text));
  };
  if (text == "0") return std::chrono::seconds(0);
  if (text.empty()) return bad();
  long long total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    long long number = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (number > 1'000'000'000LL) return bad();
      number = number * 10 + (text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || i == text.size()) return bad();
    switch (text[i]) {
      case 'd': total += number * 86400; break;
      case 'h': total += number * 3600; break;
      case 'm': total += number * 60; break;
      case 's': total += number; break;
      default: return bad();
    }
    ++i;
  }
  return std::chrono::seconds(total);
}

}  // namespace rehome::cli
