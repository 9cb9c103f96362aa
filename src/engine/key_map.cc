#include "engine/key_map.h"

#include <stdexcept>

namespace rehome::engine {

const char* to_string(PathKind kind) noexcept {
  switch (kind) {
    case PathKind::kNull: return "null";
    case PathKind::kEmpty: return "empty";
    case PathKind::kLegacy: return "legacy";
    case PathKind::kProduction: return "production";
    case PathKind::kOther: return "other";
  }
  return "unknown";
}

KeyMap::KeyMap(std::string legacy_prefix, std::string production_prefix)
    : legacy_prefix_(std::move(legacy_prefix)), production_prefix_(std::move(production_prefix)) {
  // Validated with a user-facing message in engine/config.cc; here it is a programmer error.
  if (legacy_prefix_.empty() || production_prefix_.empty() ||
      legacy_prefix_ == production_prefix_) {
    throw std::invalid_argument("KeyMap: prefixes must be non-empty and differ");
  }
}

std::optional<std::string_view> KeyMap::suffix(std::string_view key, std::string_view prefix) {
  if (key.size() < prefix.size() || key.substr(0, prefix.size()) != prefix) return std::nullopt;
  return key.substr(prefix.size());
}

PathKind KeyMap::classify(std::optional<std::string_view> path) const {
  if (!path) return PathKind::kNull;
  if (path->empty()) return PathKind::kEmpty;
  // A prefix may contain the other ("img/" and "img/new/"): the longer match wins.
  bool legacy = suffix(*path, legacy_prefix_).has_value();
  bool production = suffix(*path, production_prefix_).has_value();
  if (legacy && production) {
    return legacy_prefix_.size() > production_prefix_.size() ? PathKind::kLegacy
                                                             : PathKind::kProduction;
  }
  if (legacy) return PathKind::kLegacy;
  if (production) return PathKind::kProduction;
  return PathKind::kOther;
}

std::optional<std::string> KeyMap::to_production(std::string_view legacy_key) const {
  auto rest = suffix(legacy_key, legacy_prefix_);
  if (!rest) return std::nullopt;
  std::string out = production_prefix_;
  out.append(*rest);
  return out;
}

std::optional<std::string> KeyMap::to_legacy(std::string_view production_key) const {
  auto rest = suffix(production_key, production_prefix_);
  if (!rest) return std::nullopt;
  std::string out = legacy_prefix_;
  out.append(*rest);
  return out;
}

}  // namespace rehome::engine
