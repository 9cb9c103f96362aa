// Percent-encoding as S3 and SigV4 define it (RFC 3986 unreserved set kept as is).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rehome {

/// Encodes every byte outside A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex). When
/// `keep_slash` is true, '/' is kept as is (object keys in a URL path).
std::string uri_encode(std::string_view text, bool keep_slash = false);

/// A query string as SigV4 canonicalises it (and as rehome sends it, so the two agree): names
/// and values encoded (including '/'), sorted by encoded name then value, "name=" when a
/// parameter has no value.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

/// The value of one hex digit, or -1.
int hex_digit_value(char c);

/// Decodes %XX escapes (and, when `plus_is_space`, '+' as a space). Returns the text unchanged
/// where an escape is malformed.
std::string uri_decode(std::string_view text, bool plus_is_space = false);

}  // namespace rehome
