#include "pg/identifier.h"

#include <string>

namespace rehome::pg {
namespace {

constexpr std::size_t kMaxIdentifierBytes = 63;  // NAMEDATALEN - 1: longer names are truncated

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_valid_part(std::string_view part) {
  if (part.empty() || part.size() > kMaxIdentifierBytes || is_digit(part.front())) return false;
  for (char c : part) {
    if (!is_letter(c) && !is_digit(c) && c != '_' && c != '$') return false;
  }
  return true;
}

// The rejected value, safe to print on one line: control and non-ASCII bytes as \xNN.
std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

}  // namespace

// Every part is quoted even when it needs no quoting, so a name is used exactly as configured:
// "Avatars" names the table Avatars, not avatars (unquoted SQL would fold it to lower case).
Result<std::string> quote_identifier(std::string_view name) {
  const std::size_t dot = name.find('.');
  const std::string_view first = name.substr(0, dot);
  const std::string_view second =
      dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  const bool valid =
      is_valid_part(first) && (dot == std::string_view::npos || is_valid_part(second));
  if (!valid) {
    return Error::invalid_input("invalid PostgreSQL name \"" + printable(name) +
                                "\": expected name or schema.name, each part 1-63 letters, "
                                "digits, '_' or '$', not starting with a digit");
  }
  std::string quoted;
  quoted.append("\"").append(first).append("\"");
  if (dot != std::string_view::npos) quoted.append(".\"").append(second).append("\"");
  return quoted;
}

// Elements are always double-quoted, so empty strings, spaces, commas, braces and the word
// NULL all come back as the text they were.
std::string text_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string int_array_literal(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

}  // namespace rehome::pg
