// Phase 2 of `run`: every row under the legacy prefix whose object has a verified twin is
// rewritten, range by range of the primary key, one transaction per range. Rows whose object
// rehome has not seen (added by the application after the listing passed, or a reference that
// was always broken) are looked up and copied on the spot, then rewritten in the same pass.
//
// Ranges are claimed (claim_store.h), so every worker of the job rewrites its share, and each
// rewrite first checks, in its transaction, that the claim is still this worker's.
//
// The ranges' rewrites run on `--row-connections` connections of their own, each on a thread, so
// the database works on several ranges at once (the ranges hold disjoint rows: no two
// transactions ever wait for each other). Everything else stays on the calling thread: range
// boundaries, results in range order, the summary, and the rare range that needs S3 (its
// unseen objects are settled on the event loop, then the range is rewritten again).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/claim_store.h"
#include "engine/context.h"
#include "engine/membership.h"
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
  /// statements share; `claims` on the same connection; `membership` renews what is claimed.
  RowSync(Context& context, RowStore& rows, StateStore& store, ClaimStore& claims,
          Membership& membership, Round round);
  ~RowSync();

  /// Claims primary-key ranges of the round and rewrites them until none is left, then waits
  /// for the other workers' (taking over those of a worker that goes) until the round is
  /// complete. Stops early, cleanly, when a stop is requested.
  Status run();

 private:
  struct Worker;

  Status open_workers();
  Result<std::optional<RowTask>> claim();
  RangeFence fence_on(ClaimStore& claims, const RowTask& task) const;
  Result<FlipResult> flip_on_main(std::int64_t lo, std::int64_t hi, const RowTask& task);
  /// After a task's rewrite: settles it, then completes it (unless rows are left locked).
  Status finish_task(const RowTask& task, Result<FlipResult> flipped);
  Status finish_range(std::int64_t lo, std::int64_t hi, Result<FlipResult> flipped,
                      const RowTask& task);
  /// Rewrites again the ranges that had locked rows, until free or out of patience, and
  /// completes their tasks.
  Status retry_locked();
  Status note_rows_after(std::int64_t bound);
  /// `may_defer`: a range with rows another transaction holds is set aside for retry_locked.
  Status settle_range(std::int64_t lo, std::int64_t hi, FlipResult flipped, int round,
                      bool may_defer, const RowTask& task);
  Status complete(const RowTask& task);
  void lose(const RowTask& task);

  struct Locked {
    std::int64_t lo, hi;
    RowTask task;
  };

  Context& ctx_;
  RowStore& rows_;
  StateStore& store_;
  ClaimStore& claims_;
  Membership& membership_;
  Round round_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Locked> locked_ranges_;  // (lo, hi] to retry, and the task each belongs to
  std::vector<int> lost_;              // Tasks whose claim was taken over while at work.
};

}  // namespace rehome::engine
