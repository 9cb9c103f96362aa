#include "engine/key_map.h"

#include <stdexcept>

#include <fmt/format.h>

namespace rehome::engine {

KeyMap::KeyMap(std::string legacy_prefix, std::string production_prefix)
    : legacy_prefix_(std::move(legacy_prefix)), production_prefix_(std::move(production_prefix)) {
  // Validated with a user-facing message in engine/config.cc; here it is a programmer error.
  if (legacy_prefix_.empty() || production_prefix_.empty() ||
      legacy_prefix_ == production_prefix_) {
    throw std::invalid_argument("KeyMap: prefixes must be non-empty and differ");
  }
}

std::optional<std::string_view> KeyMap::suffix(std::string_view key, std::string_view prefix) {
  if (!key.starts_with(prefix)) return std::nullopt;
  return key.substr(prefix.size());
}

std::string_view KeyMap::suffix_of_listed(std::string_view key, std::string_view prefix) {
  auto rest = suffix(key, prefix);
  // A server that answered a listing with a key outside the prefix asked for is broken, and
  // no safe decision can be made about that key.
  if (!rest)
    throw std::logic_error(fmt::format("listed key \"{}\" is not under \"{}\"", key, prefix));
  return *rest;
}

std::optional<std::string> KeyMap::to_production(std::string_view legacy_key) const {
  auto rest = suffix(legacy_key, legacy_prefix_);
  if (!rest) return std::nullopt;
  std::string out = production_prefix_;
  out.append(*rest);
  return out;
}

// substr and char_length both count characters, so the suffix starts right after the prefix
// whatever the encoding; COLLATE "C" compares bytes, as S3 orders keys.

std::string KeyMap::sql_is_under(std::string_view column, std::string_view prefix) {
  return fmt::format("starts_with({}, {}::text)", column, prefix);
}

std::string KeyMap::sql_suffix(std::string_view column, std::string_view prefix) {
  return fmt::format("substr({}, char_length({}::text) + 1) COLLATE \"C\"", column, prefix);
}

std::string KeyMap::sql_swap_prefix(std::string_view column, std::string_view from,
                                    std::string_view to) {
  return fmt::format("{}::text || substr({}, char_length({}::text) + 1)", to, column, from);
}

std::string KeyMap::sql_join(std::string_view prefix, std::string_view suffix) {
  return fmt::format("{}::text || {}", prefix, suffix);
}

}  // namespace rehome::engine
