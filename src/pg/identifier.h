// Table and column names come from configuration, so they are validated and quoted, never
// pasted into SQL as given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace rehome::pg {

/// Accepts "name" or "schema.name" made of letters, digits, '_' and '$' (not starting with a
/// digit), up to 63 bytes per part. Returns it quoted ("\"public\".\"avatars\""), or an
/// kInvalidInput error naming the bad value and the rule.
Result<std::string> quote_identifier(std::string_view name);

/// A text[] literal ({"a","b\"c"}) for passing arrays as one text parameter.
std::string text_array_literal(const std::vector<std::string>& values);
/// A bigint[] literal ({1,2,3}).
std::string int_array_literal(const std::vector<std::int64_t>& values);

}  // namespace rehome::pg
