// Before the rows phase: the `copied` records an earlier run made are checked against a fresh
// listing of production. The rewrite join trusts a record, and a production copy can vanish
// between runs (an orphan sweeper, a lifecycle rule, a person) or be replaced by another
// writer. One listing request per 1,000 objects, never a HEAD per object; the job's key ranges
// are checked side by side (--ranges at once). A record whose twin is missing, or no longer the
// recorded object, is settled again by key (copied again, or judged by the identity rule) when
// a row still names its legacy key, so rows are rewritten only to copies known to exist. (Once
// no row names the legacy key, a twin the application replaced or deleted is the
// application's business: it is not settled again, and `verify` reports a row left dangling.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/context.h"
#include "util/result.h"

namespace rehome::engine {

struct RecordCheck {
  std::uint64_t checked = 0;    ///< Records made before this run, looked for in the listing.
  std::uint64_t resettled = 0;  ///< Of those, twins missing or changed: settled again.
};

/// Of some legacy keys, those a row of the table still names (RowStore::legacy_keys_named).
using StillNamed =
    std::function<Result<std::vector<std::string>>(const std::vector<std::string>& keys)>;

/// Checks the records made before `run_started` (the server's clock when the run began).
/// Drives the loop until done or stopped; returns the first job-fatal or database error.
Result<RecordCheck> check_earlier_records(Context& ctx, const std::string& run_started,
                                          const StillNamed& still_named);

}  // namespace rehome::engine
