// The SQL that touches the application's table. Rows are visited by ranges of the primary
// key (an index every table has), never by scanning for a path, and rewritten with a
// compare-and-swap: a row changes only if it still holds the legacy path whose production
// twin is recorded as identical. The application's own writes always win.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/state_store.h"
#include "pg/connection.h"
#include "util/result.h"

namespace rehome::engine {

struct IdBounds {
  std::int64_t min = 0;
  std::int64_t max = 0;
  bool empty = true;
};

/// How the table's paths split, from one scan.
struct PathCounts {
  std::uint64_t null = 0, empty = 0, legacy = 0, production = 0, other = 0;
};

/// A row still under the legacy prefix, with what rehome knows of its object.
struct PendingRow {
  std::int64_t id = 0;
  std::string path;
  std::optional<ObjectState> state;  ///< nullopt when rehome has no record of the object.
  bool recorded_this_run = false;
};

/// What one range's rewrite did.
struct FlipResult {
  std::int64_t rewritten = 0;
  /// Rows of the range under the legacy prefix when the statement began (-1: unknown). More
  /// than `rewritten` means some rows are still pending.
  std::int64_t legacy_rows = -1;
  /// Of those, rows another transaction held locked: skipped, not waited for (SKIP LOCKED).
  std::int64_t locked = 0;
  /// The range's claim was taken over by another worker: nothing was rewritten.
  bool fenced = false;
};

/// Run inside a rewrite's transaction before it writes: false when this worker's claim on the
/// range is gone (ClaimStore::fence). Empty: no claim to check.
using RangeFence = std::function<Result<bool>()>;

class RowStore {
 public:
  RowStore(pg::Connection& db, const JobConfig& config, const StateStore& state);

  /// Checks that the table and both columns exist, that the key is an integer and the path is
  /// text, so a typo fails before any work with a message that says what to fix.
  Status check_table();
  /// Refuses a table whose row-level security policies apply to this role (check_table calls it).
  Status check_row_security();
  /// Checks that this role may rewrite the path column, so `run` fails before copying anything
  /// rather than at its first rewrite.
  Status check_can_rewrite();
  /// The smallest and largest key.
  Result<IdBounds> id_bounds();
  /// Keyset pagination: the key of the `width`-th row after `lo` (an index-only scan of the
  /// primary key), or nullopt when fewer rows follow. Ranges then hold `width` rows however
  /// sparse the keys are.
  Result<std::optional<std::int64_t>> range_end_after(std::int64_t lo, std::int64_t width);
  /// Of `keys` (legacy keys), those a row's path names now: one scan of the table (an index on
  /// the path column makes it a lookup).
  Result<std::vector<std::string>> legacy_keys_named(const std::vector<std::string>& keys);
  /// Legacy rows with an id above `bound` (rows inserted after the rows phase began).
  Result<std::int64_t> legacy_rows_after(std::int64_t bound);
  /// Counts rows by path kind (one sequential scan).
  Result<PathCounts> count_paths();
  /// The server's clock now, as text: the start of a run.
  Result<std::string> server_now();

  /// Rewrites, in one transaction, every row with lo < id <= hi whose path is a legacy key
  /// recorded as copied, if it still holds that path. Logs each rewrite in the state schema.
  /// A COMMIT whose outcome is unknown is settled by looking for the batch, not replayed blind.
  Result<FlipResult> flip_range(std::int64_t lo, std::int64_t hi, const RangeFence& fence = {});
  /// Rows with lo < id <= hi still under the legacy prefix, joined with the object records.
  /// `run_started` (from server_now()) tells which records this run wrote.
  /// Ids of the rows in (lo, hi] whose path is under the legacy prefix, in order.
  Result<std::vector<std::int64_t>> legacy_ids_in_range(std::int64_t lo, std::int64_t hi);
  Result<std::vector<PendingRow>> pending_in_range(std::int64_t lo, std::int64_t hi,
                                                   const std::string& run_started);

 private:
  Result<FlipResult> settle_in_doubt(std::int64_t batch_id);

  pg::Connection& db_;
  const JobConfig& config_;
  const StateStore& state_;
  std::string table_, id_, path_;  // Quoted identifiers.
};

}  // namespace rehome::engine
