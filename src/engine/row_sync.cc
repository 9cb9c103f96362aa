#include "engine/row_sync.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "engine/services.h"
#include "engine/settle_by_key.h"
#include "pg/retry.h"

namespace rehome::engine {

// One connection that rewrites ranges on a thread of its own. Only that thread touches the
// connection while a range is in flight; the caller waits for the result before reusing it.
struct RowSync::Worker {
  pg::Connection db;
  StateStore state;
  RowStore rows;

  Worker(pg::Connection connection, const JobConfig& config, const std::string& job)
      : db(std::move(connection)), state(db, config.state_schema, job), rows(db, config, state) {}
};

namespace {

// The rewrite of one range, with the connection's reconnect-and-retry.
Result<FlipResult> flip_with_retry(pg::Connection& db, RowStore& rows, std::int64_t lo,
                                   std::int64_t hi) {
  return pg::retry_db_value<FlipResult>(db, [&] { return rows.flip_range(lo, hi); });
}

}  // namespace

bool is_row_error(const Error& error) {
  // Data exceptions (22: a value too long, out of range), integrity constraints (23: CHECK,
  // unique, not null, foreign key) and an exception raised by a trigger (P0001): about one row's
  // new value, the same on every retry.
  return error.code.starts_with("22") || error.code.starts_with("23") || error.code == "P0001";
}

PendingVerdict judge_pending(const std::vector<PendingRow>& rows, int round) {
  PendingVerdict verdict;
  if (round == 0) {
    for (const auto& row : rows) {
      // Unseen objects, and objects an earlier run found missing or failing, get a fresh look.
      const bool stale =
          !row.state ||
          ((row.state == ObjectState::kMissing || row.state == ObjectState::kFailed) &&
           !row.recorded_this_run);
      if (stale) verdict.to_settle.push_back(row.path);
    }
    std::sort(verdict.to_settle.begin(), verdict.to_settle.end());
    verdict.to_settle.erase(std::unique(verdict.to_settle.begin(), verdict.to_settle.end()),
                            verdict.to_settle.end());
    if (!verdict.to_settle.empty()) return verdict;
  }
  for (const auto& row : rows) {
    if (row.state == ObjectState::kConflict) {
      ++verdict.conflict;
    } else if (row.state == ObjectState::kMissing) {
      ++verdict.broken;
      verdict.broken_rows.push_back(row);
    } else {
      // Failed, never recorded, or copied but the row changed under the rewrite.
      ++verdict.failed;
    }
  }
  return verdict;
}

RowSync::RowSync(Context& context, RowStore& rows, StateStore& store)
    : ctx_(context), rows_(rows), store_(store) {}

RowSync::~RowSync() = default;

Status RowSync::open_workers() {
  if (ctx_.config.row_workers < 2) return Ok{};  // One connection: the main one does it all.
  for (std::size_t i = 0; i < ctx_.config.row_workers; ++i) {
    auto db = connect_database(ctx_.config);
    if (!db) {
      Error e = db.error();
      e.message = fmt::format(
          "opening row worker connection {} of {}: {} (lower --row-workers; "
          "1 rewrites on the main connection alone)",
          i + 1, ctx_.config.row_workers, e.message);
      return e;
    }
    auto worker = std::make_unique<Worker>(std::move(db.value()), ctx_.config, store_.job());
    auto found = worker->state.find_job();
    if (!found) return found.error();
    workers_.push_back(std::move(worker));
  }
  return Ok{};
}

Result<std::int64_t> RowSync::next_range_end(std::int64_t lo, std::int64_t max) {
  auto end = pg::retry_db_value<std::optional<std::int64_t>>(
      store_.db(), [&] { return rows_.range_end_after(lo, ctx_.config.row_range); });
  if (!end) return end.error();
  return end->has_value() ? std::min(**end, max) : max;
}

Status RowSync::run(const std::string& run_started) {
  auto id_bounds = [&] {
    return pg::retry_db_value<IdBounds>(store_.db(), [&] { return rows_.id_bounds(); });
  };
  auto bounds = id_bounds();
  if (!bounds) return bounds.error();
  if (bounds->empty) return Ok{};
  // The phase ends at the highest id it saw when it began: an application that keeps inserting
  // would otherwise be chased forever. Later rows are left to the next run (and counted).
  if (auto st = pg::retry_db(store_.db(),
                             [&] {
                               if (auto f = store_.forget_failed_rows(); !f) return f;
                               return store_.record_rows_bound(bounds->max);
                             });
      !st) {
    return st;
  }
  if (auto st = open_workers(); !st) return st;

  struct InFlight {
    std::int64_t lo, hi;
    Worker* worker;
    std::future<Result<FlipResult>> result;
  };
  std::deque<InFlight> in_flight;  // In range order: results are taken oldest first.
  std::vector<Worker*> idle;
  for (auto& w : workers_) idle.push_back(w.get());
  std::optional<Error> failed;
  std::int64_t lo = bounds->min - 1;
  std::int64_t max = bounds->max;

  while (true) {
    // Hand out ranges while a worker is free (or, without workers, do one on the main
    // connection).
    while (!failed && !ctx_.stop_requested() && lo < max && (workers_.empty() || !idle.empty())) {
      auto hi = next_range_end(lo, max);
      if (!hi) {
        failed = hi.error();
        break;
      }
      if (workers_.empty()) {
        if (auto st = flip_on_main(lo, *hi, run_started); !st) failed = st.error();
      } else {
        Worker* w = idle.back();
        idle.pop_back();
        const std::int64_t range_lo = lo, range_hi = *hi;
        in_flight.push_back(
            InFlight{lo, *hi, w, std::async(std::launch::async, [w, range_lo, range_hi] {
                       return flip_with_retry(w->db, w->rows, range_lo, range_hi);
                     })});
      }
      lo = *hi;
      ctx_.report_progress("rows");
    }
    if (!in_flight.empty()) {
      InFlight next = std::move(in_flight.front());
      in_flight.pop_front();
      Result<FlipResult> flipped = next.result.get();
      idle.push_back(next.worker);
      if (failed) continue;  // Drain what is in flight, then report the first error.
      if (auto st = finish_range(next.lo, next.hi, std::move(flipped), run_started); !st) {
        failed = st.error();
      }
      ctx_.report_progress("rows");
      continue;
    }
    if (failed) return *failed;
    if (ctx_.stop_requested()) return Ok{};
    if (auto st = retry_locked(run_started); !st) return st;
    return note_rows_after(max);
  }
}

// Legacy rows the application inserted after the phase began (ids past its bound): left for
// the next run, and said so, since they keep the job from being complete.
Status RowSync::note_rows_after(std::int64_t bound) {
  auto later =
      pg::retry_db_value<std::int64_t>(store_.db(), [&] { return rows_.legacy_rows_after(bound); });
  if (!later) return later.error();
  if (*later > 0) {
    ctx_.summary.note_problem(fmt::format(
        "{} legacy row(s) were added after the rows phase began ({} > {}): left for the next "
        "run, which rewrites them",
        *later, ctx_.config.id_column, bound));
  }
  return Ok{};
}

// Ranges with rows the application held locked are rewritten again, with a growing pause,
// until the rows are free or --locked patience runs out; what is still locked then is counted
// and left for the next run, which rewrites it.
Status RowSync::retry_locked(const std::string& run_started) {
  const auto deadline = std::chrono::steady_clock::now() + ctx_.config.locked_rows_patience;
  auto pause = std::chrono::milliseconds(200);
  while (!locked_ranges_.empty() && !ctx_.stop_requested()) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    const bool last = std::chrono::steady_clock::now() >= deadline;
    auto ranges = std::exchange(locked_ranges_, {});
    for (const auto& [lo, hi] : ranges) {
      auto flipped = flip_with_retry(store_.db(), rows_, lo, hi);
      if (!flipped) {
        if (auto st = finish_range(lo, hi, std::move(flipped), run_started); !st) return st;
        continue;
      }
      if (last && flipped->locked > 0) {
        ctx_.summary.note_problem(fmt::format(
            "{} row(s) with {} in ({}, {}] stayed locked by another transaction for {}s: left "
            "legacy; the next run rewrites them",
            flipped->locked, ctx_.config.id_column, lo, hi,
            ctx_.config.locked_rows_patience.count()));
      }
      if (auto st = settle_range(lo, hi, *flipped, 0, run_started, !last); !st) return st;
    }
  }
  return Ok{};
}

Status RowSync::flip_on_main(std::int64_t lo, std::int64_t hi, const std::string& run_started) {
  return finish_range(lo, hi, flip_with_retry(store_.db(), rows_, lo, hi), run_started);
}

// A range's rewrite: settled when it went through; when one of its rows cannot be rewritten
// (the new path too long for the column, a CHECK or unique constraint, a trigger that raises),
// the whole statement rolled back: the range is bisected until that row stands alone, which
// is reported and left legacy while every other row is rewritten.
Status RowSync::finish_range(std::int64_t lo, std::int64_t hi, Result<FlipResult> flipped,
                             const std::string& run_started) {
  if (flipped) return settle_range(lo, hi, *flipped, 0, run_started, true);
  if (!is_row_error(flipped.error())) return flipped.error();
  auto ids = pg::retry_db_value<std::vector<std::int64_t>>(
      store_.db(), [&] { return rows_.legacy_ids_in_range(lo, hi); });
  if (!ids) return ids.error();
  if (ids->size() <= 1) {
    const std::int64_t row = ids->empty() ? hi : ids->front();
    ++ctx_.summary.rows_failed;
    ctx_.summary.note_problem(fmt::format(
        "row {}={} cannot be rewritten: {}; it stays legacy: fix the table or the row (widen "
        "the column, relax the constraint or trigger) and rerun",
        ctx_.config.id_column, row, flipped.error().message));
    // Kept in the state schema too (failed_rows), for whoever fixes them after the run.
    return pg::retry_db(store_.db(),
                        [&] { return store_.record_failed_row(row, flipped.error().message); });
  }
  const std::int64_t mid = (*ids)[ids->size() / 2 - 1];
  if (auto st = finish_range(lo, mid, flip_with_retry(store_.db(), rows_, lo, mid), run_started);
      !st) {
    return st;
  }
  return finish_range(mid, hi, flip_with_retry(store_.db(), rows_, mid, hi), run_started);
}

// After a range's rewrite: counts it, and when legacy rows are left, finds out why. Objects
// rehome has not seen get one look (and a copy) and the range one more rewrite; what is
// still pending after that is counted and reported.
Status RowSync::settle_range(std::int64_t lo, std::int64_t hi, FlipResult flipped, int round,
                             const std::string& run_started, bool may_defer) {
  ctx_.summary.rows_rewritten += static_cast<std::uint64_t>(flipped.rewritten);
  // The common case: every legacy row of the range was rewritten, nothing to look up.
  if (flipped.legacy_rows >= 0 && flipped.legacy_rows <= flipped.rewritten) return Ok{};
  // Rows the application holds: come back to the range once the others are done.
  if (flipped.locked > 0 && may_defer) {
    locked_ranges_.emplace_back(lo, hi);
    return Ok{};
  }

  auto pending = pg::retry_db_value<std::vector<PendingRow>>(
      store_.db(), [&] { return rows_.pending_in_range(lo, hi, run_started); });
  if (!pending) return pending.error();
  PendingVerdict verdict = judge_pending(*pending, round);
  if (!verdict.to_settle.empty()) {
    if (auto st = settle_and_record(ctx_, verdict.to_settle); !st) return st;
    auto again = flip_with_retry(store_.db(), rows_, lo, hi);
    if (!again) return finish_range(lo, hi, std::move(again), run_started);
    return settle_range(lo, hi, *again, round + 1, run_started, may_defer);
  }
  ctx_.summary.rows_conflict += verdict.conflict;
  ctx_.summary.rows_broken += verdict.broken;
  ctx_.summary.rows_failed += verdict.failed;
  for (const PendingRow& row : verdict.broken_rows) {
    ctx_.summary.note_problem(
        fmt::format("broken reference: row {}={} names {} which does not exist in {}",
                    ctx_.config.id_column, row.id, row.path, ctx_.config.legacy.bucket));
  }
  return Ok{};
}

}  // namespace rehome::engine
