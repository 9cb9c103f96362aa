// Before the rows phase: the `copied` records an earlier run made are checked against a fresh
// listing of production. The rewrite join trusts a record, and a production copy can vanish
// between runs (an orphan sweeper, a lifecycle rule, a person) or be replaced by another
// writer. One listing request per 1,000 objects, never a HEAD per object; the job's key ranges
// are checked side by side (--ranges at once). A record whose twin is missing, or no longer the
// recorded object, is settled again by key (copied again, or judged by the identity rule), so
// rows are rewritten only to copies known to exist.
#pragma once

#include <cstdint>
#include <string>

#include "engine/context.h"
#include "util/result.h"

namespace rehome::engine {

struct RecordCheck {
  std::uint64_t checked = 0;    ///< Records made before this run, looked for in the listing.
  std::uint64_t resettled = 0;  ///< Of those, twins missing or changed: settled again.
};

/// Checks the records made before `run_started` (the server's clock when the run began).
/// Drives the loop until done or stopped; returns the first job-fatal or database error.
Result<RecordCheck> check_earlier_records(Context& ctx, const std::string& run_started);

}  // namespace rehome::engine
