// How a path in the table and a key in a bucket relate: the one pure mapping the whole job
// rests on. A legacy path "image/x.png" names legacy-bucket key "image/x.png"; its production
// twin is "avatar/x.png". Mapping swaps the prefix and nothing else, so byte order is kept:
// both listings come back in the same order and can be merged without sorting.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rehome::engine {

/// What a row's path is, for the job.
enum class PathKind {
  kNull,        ///< SQL NULL: left alone.
  kEmpty,       ///< "": left alone.
  kLegacy,      ///< Under the legacy prefix: to be rewritten.
  kProduction,  ///< Under the production prefix: already done.
  kOther,       ///< Anything else: left alone.
};

const char* to_string(PathKind kind) noexcept;

class KeyMap {
 public:
  /// Prefixes as configured ("image/", "avatar/"); they must differ and be non-empty.
  KeyMap(std::string legacy_prefix, std::string production_prefix);

  /// Classifies a row's path (nullopt = SQL NULL).
  PathKind classify(std::optional<std::string_view> path) const;

  /// "image/x.png" -> "avatar/x.png"; nullopt when `legacy_key` is not under the legacy prefix.
  std::optional<std::string> to_production(std::string_view legacy_key) const;
  /// "avatar/x.png" -> "image/x.png"; nullopt when not under the production prefix.
  std::optional<std::string> to_legacy(std::string_view production_key) const;

  /// The part after the prefix ("x.png"), or nullopt when the key is not under it.
  static std::optional<std::string_view> suffix(std::string_view key, std::string_view prefix);

  const std::string& legacy_prefix() const { return legacy_prefix_; }
  const std::string& production_prefix() const { return production_prefix_; }

 private:
  std::string legacy_prefix_;
  std::string production_prefix_;
};

}  // namespace rehome::engine
