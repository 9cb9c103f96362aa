#include "engine/row_sync.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/db_retry.h"

namespace rehome::engine {

RowSync::RowSync(Context& context, RowStore& rows) : ctx_(context), rows_(rows) {}

Status RowSync::run(const std::string& run_started) {
  Result<IdBounds> bounds = IdBounds{};
  if (auto st = retry_db(ctx_.state.db(), [&]() -> Status {
        bounds = rows_.id_bounds();
        if (!bounds) return bounds.error();
        return Ok{};
      });
      !st) {
    return st;
  }
  if (bounds->empty) return Ok{};
  std::int64_t lo = bounds->min - 1;
  std::int64_t max = bounds->max;
  while (!ctx_.stop_requested()) {
    while (lo < max && !ctx_.stop_requested()) {
      Result<std::optional<std::int64_t>> end = std::optional<std::int64_t>{};
      if (auto st = retry_db(ctx_.state.db(), [&]() -> Status {
            end = rows_.range_end_after(lo, ctx_.config.row_range);
            if (!end) return end.error();
            return Ok{};
          });
          !st) {
        return st;
      }
      const std::int64_t hi = end->has_value() ? std::min(**end, max) : max;
      if (auto st = sync_range(lo, hi, run_started); !st) return st;
      lo = hi;
      ctx_.report_progress("rows");
    }
    // The application may have added rows while we worked: go on until the end stays put.
    auto again = rows_.id_bounds();
    if (!again) return again.error();
    if (again->empty || again->max <= max) break;
    max = again->max;
  }
  return Ok{};
}

Status RowSync::sync_range(std::int64_t lo, std::int64_t hi, const std::string& run_started) {
  // Two rounds at most: rewrite what is ready; look up objects rehome has not seen; rewrite
  // again. What is still pending after that is counted and reported.
  for (int round = 0; round < 2; ++round) {
    Result<FlipResult> flipped = FlipResult{};
    if (auto st = retry_db(ctx_.state.db(), [&]() -> Status {
          flipped = rows_.flip_range(lo, hi);
          if (!flipped) return flipped.error();
          return Ok{};
        });
        !st) {
      return st;
    }
    ctx_.summary.rows_rewritten += static_cast<std::uint64_t>(flipped->rewritten);
    // The common case: every legacy row of the range was rewritten, nothing to look up.
    if (flipped->legacy_rows >= 0 && flipped->legacy_rows <= flipped->rewritten) return Ok{};

    Result<std::vector<PendingRow>> pending = std::vector<PendingRow>{};
    if (auto st = retry_db(ctx_.state.db(), [&]() -> Status {
          pending = rows_.pending_in_range(lo, hi, run_started);
          if (!pending) return pending.error();
          return Ok{};
        });
        !st) {
      return st;
    }
    std::vector<std::string> unknown;
    for (const auto& row : *pending) {
      // Unseen objects, and objects an earlier run found missing or failing, get a fresh look.
      bool stale = row.state.empty() ||
                   ((row.state == "missing" || row.state == "failed") && !row.recorded_this_run);
      if (stale) unknown.push_back(row.path);
    }
    if (round == 0 && !unknown.empty()) {
      std::sort(unknown.begin(), unknown.end());
      unknown.erase(std::unique(unknown.begin(), unknown.end()), unknown.end());
      if (auto st = settle_and_record(ctx_, unknown); !st) return st;
      continue;
    }
    for (const auto& row : *pending) {
      if (row.state == "conflict") {
        ++ctx_.summary.rows_conflict;
      } else if (row.state == "missing") {
        ++ctx_.summary.rows_broken;
        ctx_.summary.note_problem(
            fmt::format("broken reference: row {}={} names {} which does not exist in {}",
                        ctx_.config.id_column, row.id, row.path, ctx_.config.legacy.bucket));
      } else {
        ++ctx_.summary.rows_failed;
      }
    }
    return Ok{};
  }
  return Ok{};
}

}  // namespace rehome::engine
