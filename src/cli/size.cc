#include "cli/size.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "util/text.h"

namespace rehome::cli {

Result<std::int64_t> parse_size(std::string_view text) {
  const auto bad = [&] {
    return Error::invalid_input(fmt::format(
        "\"{}\" is not a size: give bytes, or a number with KB, MB, GB or TB (8MB is 8 MiB, "
        "as in the AWS CLI)",
        text));
  };
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return bad();
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits || number < 0) return bad();
  std::string_view unit_text = text.substr(digits);
  while (!unit_text.empty() && unit_text.front() == ' ') unit_text.remove_prefix(1);
  const std::string unit = ascii_lower(unit_text);
  double scale = 1;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "kb" || unit == "kib") {
    scale = 1024.0;
  } else if (unit == "mb" || unit == "mib") {
    scale = 1024.0 * 1024;
  } else if (unit == "gb" || unit == "gib") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "tb" || unit == "tib") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return bad();
  }
  const double bytes = std::floor(number * scale);
  if (bytes > 9.0e18) return bad();
  return static_cast<std::int64_t>(bytes);
}

std::string format_size(std::int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  std::string unit;
  for (const char* next : kUnits) {
    if (bytes == 0 || bytes % 1024 != 0) break;
    bytes /= 1024;
    unit = next;
  }
  return std::to_string(bytes) + unit;
}

}  // namespace rehome::cli
