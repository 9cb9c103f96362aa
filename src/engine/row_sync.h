// Phase 2 of `run`: every row under the legacy prefix whose object has a verified twin is
// rewritten, range by range of the primary key, one transaction per range. Rows whose object
// rehome has not seen (added by the application after the listing passed, or a reference that
// was always broken) are looked up and copied on the spot, then rewritten in the same pass.
//
// The ranges' rewrites run on `--row-workers` connections of their own, each on a thread, so
// the database works on several ranges at once (the ranges hold disjoint rows: no two
// transactions ever wait for each other). Everything else stays on the calling thread: range
// boundaries, results in range order, the summary, and the rare range that needs S3 (its
// unseen objects are settled on the event loop, then the range is rewritten again).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/row_store.h"

namespace rehome::engine {

/// What the row phase makes of the legacy rows a range's rewrite left behind.
struct PendingVerdict {
  /// Objects to look up (and copy) before the range is rewritten once more: those rehome has
  /// not seen, and those an earlier run found missing or failing. Sorted, each once. Only in
  /// the first round: what is still pending after the second is reported, not chased.
  std::vector<std::string> to_settle;
  std::uint64_t conflict = 0;  ///< Rows whose twin holds other content.
  std::uint64_t broken = 0;    ///< Rows naming a legacy object that does not exist.
  std::uint64_t failed = 0;    ///< Rows whose object could not be copied (yet), or changed.
  std::vector<PendingRow> broken_rows;  ///< For the problem lines.
};

/// Pure: true when a rewrite failed because of one row's new value (SQLSTATE class 22 or 23,
/// or a trigger's P0001), which no retry fixes: the range is bisected to that row.
bool is_row_error(const Error& error);

/// Pure: decides about a range's pending rows in round `round` (0, then 1).
PendingVerdict judge_pending(const std::vector<PendingRow>& rows, int round);

class RowSync {
 public:
  /// `store` is the job's bookkeeping on the main connection, which the row phase's own
  /// statements share.
  RowSync(Context& context, RowStore& rows, StateStore& store);
  ~RowSync();

  /// Walks the key ranges from the smallest key to the largest (and on, while the
  /// application adds rows). Stops early, cleanly, when a stop is requested.
  Status run(const std::string& run_started);

 private:
  struct Worker;

  Status open_workers();
  Result<std::int64_t> next_range_end(std::int64_t lo, std::int64_t max);
  Status flip_on_main(std::int64_t lo, std::int64_t hi, const std::string& run_started);
  Status finish_range(std::int64_t lo, std::int64_t hi, Result<FlipResult> flipped,
                      const std::string& run_started);
  /// Rewrites again the ranges that had locked rows, until free or out of patience.
  Status note_rows_after(std::int64_t bound);
  Status retry_locked(const std::string& run_started);
  /// `may_defer`: a range with rows another transaction holds is set aside for retry_locked.
  Status settle_range(std::int64_t lo, std::int64_t hi, FlipResult flipped, int round,
                      const std::string& run_started, bool may_defer);

  Context& ctx_;
  RowStore& rows_;
  StateStore& store_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::pair<std::int64_t, std::int64_t>> locked_ranges_;  // (lo, hi] to retry
};

}  // namespace rehome::engine
