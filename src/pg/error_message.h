// The words of PostgreSQL errors, as pure functions: what connection.cc reports is built and
// tested here, away from libpq.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace rehome::pg {

/// Collapses newlines, tabs and runs of spaces to single spaces and trims both ends.
std::string one_line(std::string_view text);

/// A startup failure as libpq reports it with PQERRORS_VERBOSE.
struct StartupError {
  std::string sqlstate;  ///< "" when the failure happened in libpq (refused, timeout...).
  std::string message;   ///< One line, without "FATAL:  28P01: " and LOCATION lines.
};
/// Splits libpq's verbose connection error text into its first SQLSTATE and a clean message.
StartupError parse_startup_error(std::string_view libpq_message);

/// Replaces every double-quoted fragment longer than one character with "...": libpq's
/// connection-string parse errors quote pieces of the string, and a piece may be the password.
std::string redact_quoted(std::string_view text);

/// Replaces each occurrence of `secret` (when at least 4 bytes) with "***".
std::string redact_secret(std::string text, std::string_view secret);

/// What the operator should do about an error of `kind` with `sqlstate` ("" when none).
std::string hint_for(ErrorKind kind, std::string_view sqlstate);

/// "PostgreSQL <where>: <what> (SQLSTATE <sqlstate>; <kind>; <hint>)"; the SQLSTATE part is
/// left out when `sqlstate` is empty.
std::string format_error(std::string_view where, std::string_view what, std::string_view sqlstate,
                         ErrorKind kind, std::string_view hint);

}  // namespace rehome::pg
