// SQLSTATE classified in one place, by what the caller can do about it.
#pragma once

#include <string_view>

#include "util/result.h"

namespace rehome::pg {

/// Connection exceptions (08xxx), serialization failure (40001), deadlock (40P01), admin
/// shutdown (57P01-57P03), too many connections (53300): transient. Query canceled / statement
/// timeout (57014): transient. Insufficient privilege (42501), invalid authorization
/// (28xxx): access denied. Undefined table/column (42P01, 42703), datatype mismatch (42804),
/// invalid text representation (22P02): invalid input. Everything else: permanent.
/// `during_commit` turns a lost connection into kInDoubt: the commit may or may not have happened.
ErrorKind classify_sqlstate(std::string_view sqlstate, bool during_commit = false);

}  // namespace rehome::pg
