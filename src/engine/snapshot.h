// A listing copied into a temporary table, so that plan and verify can join millions of keys
// against millions of rows inside PostgreSQL (hash joins) instead of in memory, and without a
// HEAD per row. Temporary tables vanish with the session: the commands stay read-only.
#pragma once

#include <string>

#include "http/loop.h"
#include "pg/connection.h"
#include "s3/api.h"
#include "util/result.h"

namespace rehome::engine {

/// Creates pg_temp.<table>(suffix text COLLATE "C" PRIMARY KEY, etag text, size bigint) and
/// fills it with every object under `prefix`, keyed by the part after the prefix.
/// Returns the number of objects listed.
Result<std::uint64_t> snapshot_listing(http::Loop& loop, s3::Api& client, const std::string& bucket,
                                       const std::string& prefix, pg::Connection& db,
                                       const std::string& table);

}  // namespace rehome::engine
