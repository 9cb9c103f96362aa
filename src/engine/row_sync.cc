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
  ClaimStore claims;

  Worker(pg::Connection connection, const JobConfig& config, const std::string& job)
      : db(std::move(connection)),
        state(db, config.state_schema, job),
        rows(db, config, state),
        claims(state, config.lease) {}
};

namespace {

// The rewrite of one range, with the connection's reconnect-and-retry.
Result<FlipResult> flip_with_retry(pg::Connection& db, RowStore& rows, std::int64_t lo,
                                   std::int64_t hi, const RangeFence& fence) {
  return pg::retry_db_value<FlipResult>(db, [&] { return rows.flip_range(lo, hi, fence); });
}

constexpr auto kWaitForOthers = std::chrono::seconds(1);

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

RowSync::RowSync(Context& context, RowStore& rows, StateStore& store, ClaimStore& claims,
                 Membership& membership, Round round)
    : ctx_(context),
      rows_(rows),
      store_(store),
      claims_(claims),
      membership_(membership),
      round_(std::move(round)) {}

RowSync::~RowSync() = default;

Status RowSync::open_workers() {
  if (ctx_.config.row_connections < 2) return Ok{};  // One connection: the main one does it all.
  for (std::size_t i = 0; i < ctx_.config.row_connections; ++i) {
    auto db = connect_database(ctx_.config);
    if (!db) {
      Error e = db.error();
      e.message = fmt::format(
          "opening row connection {} of {}: {} (lower --row-connections; "
          "1 rewrites on the main connection alone)",
          i + 1, ctx_.config.row_connections, e.message);
      return e;
    }
    auto worker = std::make_unique<Worker>(std::move(db.value()), ctx_.config, store_.job());
    auto found = worker->state.find_job();
    if (!found) return found.error();
    workers_.push_back(std::move(worker));
  }
  return Ok{};
}

RangeFence RowSync::fence_on(ClaimStore& claims, const RowTask& task) const {
  return [&claims, round = round_.number, task] {
    return claims.fence(round, Claim{ClaimKind::kRows, task.number, task.epoch});
  };
}

Result<std::optional<RowTask>> RowSync::claim() {
  // Not replayed when in doubt: a claim committed unseen is found expired one lease later.
  auto task = pg::retry_db_value<std::optional<RowTask>>(store_.db(), [&] {
    return claims_.claim_rows(membership_.worker(), round_.number,
                              [&](std::int64_t lo, std::int64_t bound) -> Result<std::int64_t> {
                                auto end = rows_.range_end_after(lo, ctx_.config.row_range);
                                if (!end) return end.error();
                                return end->has_value() ? std::min(**end, bound) : bound;
                              });
  });
  if (task && *task) membership_.hold(Claim{ClaimKind::kRows, (*task)->number, (*task)->epoch});
  return task;
}

Status RowSync::run() {
  auto bounds = pg::retry_db_value<IdBounds>(store_.db(), [&] { return rows_.id_bounds(); });
  if (!bounds) return bounds.error();
  // The phase ends at the highest id the round's first worker saw when it began: an
  // application that keeps inserting would otherwise be chased forever. Later rows are left to
  // the next round (and counted).
  auto bound = pg::retry_db_value<std::optional<std::int64_t>>(store_.db(), [&] {
    return claims_.begin_rows(round_.number, bounds->empty ? 1 : bounds->min,
                              bounds->empty ? 0 : bounds->max);
  });
  if (!bound) return bound.error();
  if (auto st = open_workers(); !st) return st;

  struct InFlight {
    RowTask task;
    Worker* worker;
    std::future<Result<FlipResult>> result;
  };
  std::deque<InFlight> in_flight;  // Results are taken oldest first.
  std::vector<Worker*> idle;
  for (auto& w : workers_) idle.push_back(w.get());
  std::optional<Error> failed;

  while (true) {
    // Claim ranges while a connection is free (or, without workers, do one on the main one).
    bool claimed = false;
    while (!failed && !ctx_.stop_requested() && (workers_.empty() || !idle.empty())) {
      auto task = claim();
      if (!task) {
        failed = task.error();
        break;
      }
      if (!*task) break;
      claimed = true;
      const RowTask t = **task;
      if (workers_.empty()) {
        if (auto st = finish_task(t, flip_on_main(t.lo, t.hi, t)); !st) failed = st.error();
      } else {
        Worker* w = idle.back();
        idle.pop_back();
        RangeFence fence = fence_on(w->claims, t);
        in_flight.push_back(
            InFlight{t, w, std::async(std::launch::async, [w, t, fence = std::move(fence)] {
                       return flip_with_retry(w->db, w->rows, t.lo, t.hi, fence);
                     })});
      }
      ctx_.report_progress("rows");
    }
    if (!in_flight.empty()) {
      InFlight next = std::move(in_flight.front());
      in_flight.pop_front();
      Result<FlipResult> flipped = next.result.get();
      idle.push_back(next.worker);
      if (failed) continue;  // Drain what is in flight, then report the first error.
      if (auto st = finish_task(next.task, std::move(flipped)); !st) failed = st.error();
      ctx_.report_progress("rows");
      continue;
    }
    if (failed) return *failed;
    if (ctx_.stop_requested()) return Ok{};
    if (claimed) continue;
    if (auto st = retry_locked(); !st) return st;
    // Nothing left to claim: the other workers' ranges are still at work. Wait for them, and
    // take over any whose worker goes (the next claim finds it).
    auto done = pg::retry_db_value<bool>(store_.db(),
                                         [&] { return claims_.round_complete(round_.number); });
    if (!done) return done.error();
    if (*done) break;
    ctx_.report_progress("rows: waiting for other workers");
    std::this_thread::sleep_for(kWaitForOthers);
  }
  if (bounds->empty || !*bound) return Ok{};
  return note_rows_after(**bound);
}

Result<FlipResult> RowSync::flip_on_main(std::int64_t lo, std::int64_t hi, const RowTask& task) {
  return flip_with_retry(store_.db(), rows_, lo, hi, fence_on(claims_, task));
}

void RowSync::lose(const RowTask& task) {
  membership_.drop(Claim{ClaimKind::kRows, task.number, task.epoch});
  ++ctx_.summary.ranges_lost;
  if (std::find(lost_.begin(), lost_.end(), task.number) == lost_.end()) {
    lost_.push_back(task.number);
  }
}

Status RowSync::complete(const RowTask& task) {
  const Claim claim{ClaimKind::kRows, task.number, task.epoch};
  auto done = pg::retry_db_value<bool>(
      store_.db(), [&] { return claims_.complete_task(round_.number, claim); }, true);
  membership_.drop(claim);
  if (!done) return done.error();
  return Ok{};
}

Status RowSync::finish_task(const RowTask& task, Result<FlipResult> flipped) {
  std::erase(lost_, task.number);
  if (auto st = finish_range(task.lo, task.hi, std::move(flipped), task); !st) return st;
  if (std::find(lost_.begin(), lost_.end(), task.number) != lost_.end()) return Ok{};
  const bool deferred = std::any_of(locked_ranges_.begin(), locked_ranges_.end(),
                                    [&](const Locked& l) { return l.task.number == task.number; });
  if (deferred) return Ok{};  // Completed once retry_locked is done with it.
  return complete(task);
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
// and left for the next run, which rewrites it. Their tasks are then complete.
Status RowSync::retry_locked() {
  const auto deadline = std::chrono::steady_clock::now() + ctx_.config.locked_rows_patience;
  auto pause = std::chrono::milliseconds(200);
  std::vector<RowTask> tasks;
  for (const auto& l : locked_ranges_) {
    if (std::none_of(tasks.begin(), tasks.end(),
                     [&](const RowTask& t) { return t.number == l.task.number; })) {
      tasks.push_back(l.task);
    }
  }
  while (!locked_ranges_.empty() && !ctx_.stop_requested()) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    const bool last = std::chrono::steady_clock::now() >= deadline;
    auto ranges = std::exchange(locked_ranges_, {});
    for (const auto& [lo, hi, task] : ranges) {
      if (std::find(lost_.begin(), lost_.end(), task.number) != lost_.end()) continue;
      auto flipped = flip_on_main(lo, hi, task);
      if (!flipped) {
        if (auto st = finish_range(lo, hi, std::move(flipped), task); !st) return st;
        continue;
      }
      if (last && flipped->locked > 0) {
        ctx_.summary.note_problem(fmt::format(
            "{} row(s) with {} in ({}, {}] stayed locked by another transaction for {}s: left "
            "legacy; the next run rewrites them",
            flipped->locked, ctx_.config.id_column, lo, hi,
            ctx_.config.locked_rows_patience.count()));
      }
      if (auto st = settle_range(lo, hi, *flipped, 0, !last, task); !st) return st;
    }
  }
  if (ctx_.stop_requested()) return Ok{};
  for (const auto& task : tasks) {
    if (std::find(lost_.begin(), lost_.end(), task.number) != lost_.end()) continue;
    if (auto st = complete(task); !st) return st;
  }
  return Ok{};
}

// A range's rewrite: settled when it went through; when one of its rows cannot be rewritten
// (the new path too long for the column, a CHECK or unique constraint, a trigger that raises),
// the whole statement rolled back: the range is bisected until that row stands alone, which
// is reported and left legacy while every other row is rewritten.
Status RowSync::finish_range(std::int64_t lo, std::int64_t hi, Result<FlipResult> flipped,
                             const RowTask& task) {
  if (flipped && flipped->fenced) {
    lose(task);  // Another worker took the range over: it is that worker's now.
    return Ok{};
  }
  if (flipped) return settle_range(lo, hi, *flipped, 0, true, task);
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
  if (auto st = finish_range(lo, mid, flip_on_main(lo, mid, task), task); !st) return st;
  return finish_range(mid, hi, flip_on_main(mid, hi, task), task);
}

// After a range's rewrite: counts it, and when legacy rows are left, finds out why. Objects
// rehome has not seen get one look (and a copy) and the range one more rewrite; what is
// still pending after that is counted and reported.
Status RowSync::settle_range(std::int64_t lo, std::int64_t hi, FlipResult flipped, int round,
                             bool may_defer, const RowTask& task) {
  if (flipped.fenced) {
    lose(task);
    return Ok{};
  }
  ctx_.summary.rows_rewritten += static_cast<std::uint64_t>(flipped.rewritten);
  // The common case: every legacy row of the range was rewritten, nothing to look up.
  if (flipped.legacy_rows >= 0 && flipped.legacy_rows <= flipped.rewritten) return Ok{};
  // Rows the application holds: come back to the range once the others are done.
  if (flipped.locked > 0 && may_defer) {
    locked_ranges_.push_back(Locked{lo, hi, task});
    return Ok{};
  }

  auto pending = pg::retry_db_value<std::vector<PendingRow>>(
      store_.db(), [&] { return rows_.pending_in_range(lo, hi, round_.started_at); });
  if (!pending) return pending.error();
  PendingVerdict verdict = judge_pending(*pending, round);
  if (!verdict.to_settle.empty()) {
    if (auto st = settle_and_record(ctx_, verdict.to_settle); !st) return st;
    auto again = flip_on_main(lo, hi, task);
    if (!again) return finish_range(lo, hi, std::move(again), task);
    return settle_range(lo, hi, *again, round + 1, may_defer, task);
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
