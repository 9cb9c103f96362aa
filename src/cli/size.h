// Sizes as the AWS CLI takes them (multipart_threshold, multipart_chunksize): a number of
// bytes, or a number with KB, MB, GB or TB (KiB... too), every unit a power of 1024: "8MB" is
// 8 MiB, as in the AWS CLI.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace rehome::cli {

/// "8388608", "8MB", "8MiB", "5GB", "1.5GiB" (a fraction is rounded down to whole bytes).
Result<std::int64_t> parse_size(std::string_view text);

/// The size in the largest binary unit that holds it exactly ("5GiB", "8MiB", "1000").
std::string format_size(std::int64_t bytes);

}  // namespace rehome::cli
