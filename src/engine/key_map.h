// How a path in the table and a key in a bucket relate: the one mapping the whole job rests on.
// A legacy path "image/x.png" names legacy-bucket key "image/x.png"; its production twin is
// "avatar/x.png". Mapping swaps the prefix and nothing else, so byte order is kept: both
// listings come back in the same order and can be merged without sorting.
//
// The statements that work on the application's table need the same mapping in SQL; they take
// it from here (the sql_* functions), with the prefixes bound as parameters, so the C++ and the
// SQL forms cannot drift apart (checked against each other in tests/integration/pg_test.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rehome::engine {

class KeyMap {
 public:
  /// Prefixes as configured ("image/", "avatar/"); they must differ and be non-empty
  /// (engine::validate also refuses prefixes that contain one another).
  KeyMap(std::string legacy_prefix, std::string production_prefix);

  /// "image/x.png" -> "avatar/x.png"; nullopt when `legacy_key` is not under the legacy prefix.
  std::optional<std::string> to_production(std::string_view legacy_key) const;

  /// The part after the prefix ("x.png"), or nullopt when the key is not under it.
  static std::optional<std::string_view> suffix(std::string_view key, std::string_view prefix);
  /// suffix() of a key known to be under `prefix` (a listing of that prefix returned it).
  static std::string_view suffix_of_listed(std::string_view key, std::string_view prefix);

  // The same mapping in SQL. `column` is a quoted identifier or a qualified column
  // ("t.\"path\""); `prefix`, `from` and `to` are text parameters ("$3"), never literals.

  /// True when `column` is under `prefix`: starts_with, which no LIKE wildcard can fool.
  static std::string sql_is_under(std::string_view column, std::string_view prefix);
  /// suffix() of `column`, collated byte-wise as S3 orders keys.
  static std::string sql_suffix(std::string_view column, std::string_view prefix);
  /// `column` with the prefix `from` swapped for `to` (to_production() when `from` is the
  /// legacy prefix). Only meaningful where sql_is_under(column, from) holds.
  static std::string sql_swap_prefix(std::string_view column, std::string_view from,
                                     std::string_view to);
  /// The key `prefix` + `suffix` (a suffix expression, such as a listing's column).
  static std::string sql_join(std::string_view prefix, std::string_view suffix);

  const std::string& legacy_prefix() const { return legacy_prefix_; }
  const std::string& production_prefix() const { return production_prefix_; }

 private:
  std::string legacy_prefix_;
  std::string production_prefix_;
};

}  // namespace rehome::engine
