// Durations as people type them: "24h", "90m", "45s", "2d", "1h30m", "0".
#pragma once

#include <chrono>
#include <string_view>

#include "util/result.h"

namespace rehome::cli {

/// Parses a sequence of <number><unit> with units d, h, m, s (a bare "0" is zero).
Result<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace rehome::cli
