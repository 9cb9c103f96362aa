#include "engine/claim_store.h"

#include <fmt/format.h>

#include "pg/identifier.h"

namespace rehome::engine {

const char* to_string(ClaimKind kind) noexcept {
  switch (kind) {
    case ClaimKind::kKeys: return "keys";
    case ClaimKind::kRecheck: return "recheck";
    case ClaimKind::kCheck: return "check";
    case ClaimKind::kRows: return "rows";
  }
  return "unknown";
}

namespace {

std::optional<ClaimKind> parse_kind(std::string_view text) {
  for (auto kind : {ClaimKind::kKeys, ClaimKind::kRecheck, ClaimKind::kCheck, ClaimKind::kRows}) {
    if (text == to_string(kind)) return kind;
  }
  return std::nullopt;
}

}  // namespace

std::string ClaimStore::lease_interval() const { return fmt::format("{} seconds", lease_.count()); }

Result<Round> ClaimStore::join_round(bool relist) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  auto now = db.exec(fmt::format("SELECT round, round_completed_at IS NOT NULL, "
                                 "listing_completed_at IS NOT NULL "
                                 "FROM {}.jobs WHERE job_id = $1 FOR UPDATE",
                                 s),
                     {state_.job_id()});
  if (!now) return now.error();
  if (now->size() != 1) return Error::permanent("the job is not registered");
  const int current = static_cast<int>(now->int64(0, 0));
  // Records made before the oldest live worker started are an earlier run's (a killed one's, or
  // a finished round's): checked against production before rows move to them. Those the live
  // workers made are this run's.
  auto cohort = db.exec(fmt::format("SELECT least(min(started_at), now())::text FROM {}.workers "
                                    "WHERE job_id = $1 AND stopped_at IS NULL AND "
                                    "heartbeat_at >= now() - $2::interval",
                                    s),
                        {state_.job_id(), lease_interval()});
  if (!cohort) return cohort.error();
  const std::string since(cohort->text(0, 0));
  if (current > 0 && now->text(0, 1) != "t") {
    if (auto st = tx->commit(); !st) return st.error();
    return Round{current, since, false};
  }
  auto begun =
      db.exec(fmt::format("UPDATE {}.jobs SET round = round + 1, round_started_at = now(), "
                          "round_completed_at = NULL, rows_bound = NULL, "
                          "rows_cursor = NULL, updated_at = now() WHERE job_id = $1 "
                          "RETURNING round",
                          s),
              {state_.job_id()});
  if (!begun) return begun.error();
  Round round{static_cast<int>(begun->int64(0, 0)), since, true};
  // Every statement takes both parameters (the extended protocol refuses an unused one).
  std::vector<std::string> statements = {
      // The rows the last round could not rewrite are this round's to try again.
      "DELETE FROM {0}.failed_rows WHERE job_id = $1 AND $2::int > 0",
      "DELETE FROM {0}.tasks WHERE job_id = $1 AND round < $2::int",
      "INSERT INTO {0}.tasks (job_id, round, kind, number) VALUES ($1, $2::int, 'recheck', 0), "
      "($1, $2::int, 'check', 0) ON CONFLICT DO NOTHING"};
  if (relist && now->text(0, 2) == "t") {
    statements.emplace_back(
        "UPDATE {0}.jobs SET listing_watermark = '', listing_completed_at = NULL "
        "WHERE job_id = $1 AND $2::int > 0");
    statements.emplace_back("DELETE FROM {0}.ranges WHERE job_id = $1 AND $2::int > 0");
  }
  for (const auto& sql : statements) {
    auto r =
        db.exec(fmt::format(fmt::runtime(sql), s), {state_.job_id(), std::to_string(round.number)});
    if (!r) return r.error();
  }
  if (auto st = tx->commit(); !st) return st.error();
  return round;
}

// The round is complete once its rows' cursor reached the bound and every task is: whoever
// completes the last part (or finds it completed by a worker that then went) says so.
Status ClaimStore::complete_round_if_done(int round) {
  auto r = state_.db().exec(fmt::format(R"(
      UPDATE {0}.jobs SET round_completed_at = now(), updated_at = now()
      WHERE job_id = $1 AND round = $2::int AND round_completed_at IS NULL
        AND rows_bound IS NOT NULL AND rows_cursor >= rows_bound
        AND NOT EXISTS (SELECT 1 FROM {0}.tasks
                        WHERE job_id = $1 AND round = $2::int AND completed_at IS NULL))",
                                        state_.schema()),
                            {state_.job_id(), std::to_string(round)});
  if (!r) return r.error();
  return Ok{};
}

Result<bool> ClaimStore::round_complete(int round) {
  // Completes it first if everything is done: a round whose last task was completed by a
  // worker that then went stays complete-able by anyone.
  if (auto st = complete_round_if_done(round); !st) return st.error();
  auto r = state_.db().exec(fmt::format("SELECT round > $2::int OR round_completed_at IS NOT NULL "
                                        "FROM {}.jobs WHERE job_id = $1",
                                        state_.schema()),
                            {state_.job_id(), std::to_string(round)});
  if (!r) return r.error();
  return r->size() == 0 || r->text(0, 0) == "t";
}

Result<JobRanges> ClaimStore::count_ranges() {
  const std::string& s = state_.schema();
  // A claim is live while its lease runs and its worker has not stopped.
  const std::string live = fmt::format(
      "owner IS NOT NULL AND lease_until >= now() AND NOT EXISTS (SELECT 1 FROM {}.workers w "
      "WHERE w.worker_id = owner AND w.stopped_at IS NOT NULL)",
      s);
  const std::string by_state = fmt::format(
      "SELECT count(*) FILTER (WHERE completed_at IS NOT NULL), "
      "count(*) FILTER (WHERE completed_at IS NULL AND {0}), "
      "count(*) FILTER (WHERE completed_at IS NULL AND NOT ({0})) ",
      live);
  auto counts = [](const pg::Rows& r) {
    auto at = [&](int col) {
      return r.is_null(0, col) ? 0 : static_cast<std::uint64_t>(r.int64(0, col));
    };
    return PartCounts{at(0), at(1), at(2)};
  };
  auto keys = state_.db().exec(by_state + fmt::format("FROM {}.ranges WHERE job_id = $1", s),
                               {state_.job_id()});
  if (!keys) return keys.error();
  auto rows = state_.db().exec(
      by_state + fmt::format("FROM {0}.tasks WHERE job_id = $1 AND kind = 'rows' AND round = "
                             "(SELECT round FROM {0}.jobs WHERE job_id = $1)",
                             s),
      {state_.job_id()});
  if (!rows) return rows.error();
  return JobRanges{counts(*keys), counts(*rows)};
}

Status ClaimStore::end_claims(ClaimKind kind, int number, std::int64_t except_epoch,
                              const char* reason) {
  auto r = state_.db().exec(
      fmt::format("UPDATE {}.claims SET ended_at = clock_timestamp(), end_reason = $5 "
                  "WHERE job_id = $1 AND kind = $2 AND number = $3::int AND epoch <> $4::bigint "
                  "AND ended_at IS NULL",
                  state_.schema()),
      {state_.job_id(), to_string(kind), std::to_string(number), std::to_string(except_epoch),
       reason});
  if (!r) return r.error();
  return Ok{};
}

Result<std::optional<RangeProgress>> ClaimStore::claim_range(std::int64_t worker) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  // Never-claimed (or released) ranges first, in key order; then expired ones. SKIP LOCKED:
  // two workers claiming at once take two ranges instead of queueing for one.
  auto taken = db.exec(fmt::format(R"(
      WITH pick AS (
        SELECT range_no FROM {0}.ranges
        WHERE job_id = $1 AND completed_at IS NULL
          AND (owner IS NULL OR (lease_until < now() AND owner <> $2))
        ORDER BY owner IS NOT NULL, start_after LIMIT 1
        FOR UPDATE SKIP LOCKED)
      UPDATE {0}.ranges AS r
      SET owner = $2, epoch = nextval('{0}.epochs'), lease_until = now() + $3::interval,
          split_wanted_at = NULL, remaining = 0, updated_at = now()
      FROM pick WHERE r.job_id = $1 AND r.range_no = pick.range_no
      RETURNING r.range_no, r.start_after, r.last_key, r.watermark, r.epoch)",
                                   s),
                       {state_.job_id(), std::to_string(worker), lease_interval()});
  if (!taken) return taken.error();
  if (taken->size() == 0) {
    if (auto st = tx->commit(); !st) return st.error();
    return std::optional<RangeProgress>{};
  }
  RangeProgress p;
  p.number = static_cast<int>(taken->int64(0, 0));
  p.range.start_after = std::string(taken->text(0, 1));
  p.range.last = std::string(taken->text(0, 2));
  p.watermark = std::string(taken->text(0, 3));
  p.epoch = taken->int64(0, 4);
  if (auto st = end_claims(ClaimKind::kKeys, p.number, p.epoch, "taken over"); !st) {
    return st.error();
  }
  auto logged = db.exec(
      fmt::format("INSERT INTO {}.claims (job_id, kind, number, epoch, worker_id, start_after, "
                  "last_key) VALUES ($1, 'keys', $2, $3, $4, $5, $6)",
                  s),
      {state_.job_id(), std::to_string(p.number), std::to_string(p.epoch), std::to_string(worker),
       p.resume_after(), p.range.last});
  if (!logged) return logged.error();
  if (auto st = tx->commit(); !st) return st.error();
  return std::optional<RangeProgress>{std::move(p)};
}

Result<int> ClaimStore::new_range_number() {
  auto r = state_.db().exec(
      fmt::format("UPDATE {0}.jobs SET next_range_no = GREATEST(next_range_no, "
                  "(SELECT coalesce(max(range_no), -1) + 1 FROM {0}.ranges WHERE job_id = $1)) + 1 "
                  "WHERE job_id = $1 RETURNING next_range_no - 1",
                  state_.schema()),
      {state_.job_id()});
  if (!r) return r.error();
  return static_cast<int>(r->int64(0, 0));
}

Result<bool> ClaimStore::request_split(std::int64_t worker, double min_remaining,
                                       std::size_t ranges) {
  auto r = state_.db().exec(fmt::format(R"(
      UPDATE {0}.ranges SET split_wanted_at = now()
      WHERE job_id = $1 AND range_no IN (
        SELECT range_no FROM {0}.ranges
        WHERE job_id = $1 AND completed_at IS NULL AND owner IS NOT NULL AND owner <> $2
          AND lease_until >= now() AND remaining >= $3::float8
        ORDER BY remaining DESC LIMIT $4::int
        FOR UPDATE SKIP LOCKED)
      RETURNING range_no)",
                                        state_.schema()),
                            {state_.job_id(), std::to_string(worker),
                             fmt::format("{}", min_remaining), std::to_string(ranges)});
  if (!r) return r.error();
  return r->size() > 0;
}

Result<Renewal> ClaimStore::renew(std::int64_t worker, const std::vector<Claim>& claims,
                                  const std::vector<std::pair<int, double>>& remaining) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  std::vector<std::int64_t> epochs;
  for (const auto& c : claims) epochs.push_back(c.epoch);
  std::vector<std::int64_t> numbers;
  std::vector<std::string> estimates;
  for (const auto& [number, keys] : remaining) {
    numbers.push_back(number);
    estimates.push_back(fmt::format("{}", keys));
  }
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  Renewal renewal;
  // Rows locked in one order (range_no) by every statement that locks several: no deadlock
  // with a commit fencing the same ranges.
  auto keys = db.exec(
      fmt::format(R"(
      WITH mine AS (
        SELECT range_no FROM {0}.ranges
        WHERE job_id = $1 AND owner = $2 AND epoch = ANY($3::bigint[])
        ORDER BY range_no FOR UPDATE)
      UPDATE {0}.ranges AS r
      SET lease_until = CASE WHEN r.completed_at IS NULL THEN now() + $4::interval
                             ELSE r.lease_until END,
          remaining = coalesce((SELECT e.keys FROM unnest($5::int[], $6::float8[]) AS e(n, keys)
                                WHERE e.n = r.range_no), r.remaining)
      FROM mine WHERE r.job_id = $1 AND r.range_no = mine.range_no
      RETURNING r.range_no, r.epoch, r.split_wanted_at IS NOT NULL AND r.completed_at IS NULL)",
                  s),
      {state_.job_id(), std::to_string(worker), pg::int_array_literal(epochs), lease_interval(),
       pg::int_array_literal(numbers), pg::text_array_literal(estimates)});
  if (!keys) return keys.error();
  for (int i = 0; i < keys->size(); ++i) {
    const int number = static_cast<int>(keys->int64(i, 0));
    renewal.held.push_back(Claim{ClaimKind::kKeys, number, keys->int64(i, 1)});
    if (keys->text(i, 2) == "t") renewal.split_wanted.push_back(number);
  }
  // A task whose row a rewrite of this worker holds is skipped, not waited for (the rewrite's
  // fence extends its lease itself); it is still this worker's.
  auto renewed = db.exec(
      fmt::format(R"(
      UPDATE {0}.tasks AS t SET lease_until = now() + $4::interval
      FROM (SELECT kind, number FROM {0}.tasks
            WHERE job_id = $1 AND owner = $2 AND epoch = ANY($3::bigint[])
              AND completed_at IS NULL
            FOR UPDATE SKIP LOCKED) AS mine
      WHERE t.job_id = $1 AND t.kind = mine.kind AND t.number = mine.number
        AND t.owner = $2 AND t.epoch = ANY($3::bigint[]))",
                  s),
      {state_.job_id(), std::to_string(worker), pg::int_array_literal(epochs), lease_interval()});
  if (!renewed) return renewed.error();
  auto tasks = db.exec(fmt::format("SELECT kind, number, epoch FROM {0}.tasks WHERE job_id = $1 "
                                   "AND owner = $2 AND epoch = ANY($3::bigint[]) AND "
                                   "completed_at IS NULL",
                                   s),
                       {state_.job_id(), std::to_string(worker), pg::int_array_literal(epochs)});
  if (!tasks) return tasks.error();
  for (int i = 0; i < tasks->size(); ++i) {
    if (auto kind = parse_kind(tasks->text(i, 0))) {
      renewal.held.push_back(
          Claim{*kind, static_cast<int>(tasks->int64(i, 1)), tasks->int64(i, 2)});
    }
  }
  if (auto st = tx->commit(); !st) return st.error();
  return renewal;
}

Result<std::optional<Claim>> ClaimStore::claim_task(std::int64_t worker, int round,
                                                    ClaimKind kind) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  auto r = db.exec(fmt::format(R"(
      UPDATE {0}.tasks SET owner = $4, epoch = nextval('{0}.epochs'),
                           lease_until = now() + $5::interval
      WHERE job_id = $1 AND round = $2::int AND kind = $3 AND number = 0
        AND completed_at IS NULL
        AND (owner IS NULL OR (lease_until < now() AND owner <> $4))
      RETURNING epoch)",
                               s),
                   {state_.job_id(), std::to_string(round), to_string(kind), std::to_string(worker),
                    lease_interval()});
  if (!r) return r.error();
  if (r->size() == 0) {
    if (auto st = tx->commit(); !st) return st.error();
    return std::optional<Claim>{};
  }
  Claim claim{kind, 0, r->int64(0, 0)};
  if (auto st = end_claims(kind, 0, claim.epoch, "taken over"); !st) return st.error();
  auto logged = db.exec(fmt::format("INSERT INTO {}.claims (job_id, kind, number, epoch, "
                                    "worker_id, round) VALUES ($1, $2, 0, $3, $4, $5)",
                                    s),
                        {state_.job_id(), to_string(kind), std::to_string(claim.epoch),
                         std::to_string(worker), std::to_string(round)});
  if (!logged) return logged.error();
  if (auto st = tx->commit(); !st) return st.error();
  return std::optional<Claim>{claim};
}

Result<TaskStand> ClaimStore::task_stand(int round, ClaimKind kind, int number) {
  auto r = state_.db().exec(
      fmt::format("SELECT completed_at IS NOT NULL, owner IS NOT NULL AND lease_until >= now() "
                  "FROM {}.tasks WHERE job_id = $1 AND round = $2::int AND kind = $3 "
                  "AND number = $4::int",
                  state_.schema()),
      {state_.job_id(), std::to_string(round), to_string(kind), std::to_string(number)});
  if (!r) return r.error();
  // A task of a round that is over (deleted with it) is as good as complete.
  if (r->size() == 0) return TaskStand{true, false};
  return TaskStand{r->text(0, 0) == "t", r->text(0, 1) == "t"};
}

Result<bool> ClaimStore::complete_task(int round, const Claim& claim) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  // The job's row first: two workers completing the last two tasks at once would each see the
  // other's as not complete, and neither would complete the round.
  auto job = db.exec(fmt::format("SELECT 1 FROM {}.jobs WHERE job_id = $1 FOR UPDATE", s),
                     {state_.job_id()});
  if (!job) return job.error();
  auto done = db.exec(fmt::format("UPDATE {}.tasks SET completed_at = now() WHERE job_id = $1 AND "
                                  "round = $2::int AND kind = $3 AND number = $4::int AND "
                                  "epoch = $5::bigint AND completed_at IS NULL RETURNING 1",
                                  s),
                      {state_.job_id(), std::to_string(round), to_string(claim.kind),
                       std::to_string(claim.number), std::to_string(claim.epoch)});
  if (!done) return done.error();
  if (done->size() == 0) {
    if (auto st = tx->commit(); !st) return st.error();
    return false;
  }
  auto logged = db.exec(fmt::format("UPDATE {}.claims SET ended_at = clock_timestamp(), "
                                    "end_reason = 'done', last_commit_at = clock_timestamp() "
                                    "WHERE job_id = $1 AND kind = $2 AND number = $3::int "
                                    "AND epoch = $4::bigint",
                                    s),
                        {state_.job_id(), to_string(claim.kind), std::to_string(claim.number),
                         std::to_string(claim.epoch)});
  if (!logged) return logged.error();
  // The last rows task of a round whose cursor reached its bound completes the round.
  if (auto st = complete_round_if_done(round); !st) return st.error();
  if (auto st = tx->commit(); !st) return st.error();
  return true;
}

Result<std::optional<std::int64_t>> ClaimStore::begin_rows(int round, std::int64_t min_id,
                                                           std::int64_t max_id) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  // An empty table (max < min) has nothing to claim: cursor and bound meet at once.
  const bool empty = max_id < min_id;
  auto set =
      db.exec(fmt::format("UPDATE {}.jobs SET rows_bound = $3::bigint, rows_cursor = $4::bigint, "
                          "rows_bound_at = now(), updated_at = now() "
                          "WHERE job_id = $1 AND round = $2::int AND rows_bound IS NULL",
                          s),
              {state_.job_id(), std::to_string(round), std::to_string(empty ? 0 : max_id),
               std::to_string(empty ? 0 : min_id - 1)});
  if (!set) return set.error();
  auto now = db.exec(fmt::format("SELECT rows_bound, rows_cursor FROM {}.jobs WHERE job_id = $1 "
                                 "AND round = $2::int",
                                 s),
                     {state_.job_id(), std::to_string(round)});
  if (!now) return now.error();
  std::optional<std::int64_t> bound;
  if (now->size() == 1 && !now->is_null(0, 0)) bound = now->int64(0, 0);
  if (auto st = complete_round_if_done(round); !st) return st.error();
  if (auto st = tx->commit(); !st) return st.error();
  return bound;
}

Result<std::optional<RowTask>> ClaimStore::claim_rows(
    std::int64_t worker, int round,
    const std::function<Result<std::int64_t>(std::int64_t lo, std::int64_t bound)>& end_after) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  const std::string job = state_.job_id(), r = std::to_string(round), w = std::to_string(worker);
  // A range a worker left (killed, frozen past its lease, stopped) comes first.
  auto left = db.exec(fmt::format(R"(
      WITH pick AS (
        SELECT number FROM {0}.tasks
        WHERE job_id = $1 AND round = $2::int AND kind = 'rows' AND completed_at IS NULL
          AND (owner IS NULL OR (lease_until < now() AND owner <> $3))
        ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED)
      UPDATE {0}.tasks AS t SET owner = $3, epoch = nextval('{0}.epochs'),
                                lease_until = now() + $4::interval
      FROM pick WHERE t.job_id = $1 AND t.round = $2::int AND t.kind = 'rows'
        AND t.number = pick.number
      RETURNING t.number, t.lo, t.hi, t.epoch)",
                                  s),
                      {job, r, w, lease_interval()});
  if (!left) return left.error();
  std::optional<RowTask> task;
  if (left->size() > 0) {
    task = RowTask{static_cast<int>(left->int64(0, 0)), left->int64(0, 1), left->int64(0, 2),
                   left->int64(0, 3)};
    if (auto st = end_claims(ClaimKind::kRows, task->number, task->epoch, "taken over"); !st) {
      return st.error();
    }
  } else {
    // The next range past the cursor; the job's row serialises workers claiming at once.
    auto cursor = db.exec(fmt::format("SELECT rows_cursor, rows_bound FROM {}.jobs WHERE "
                                      "job_id = $1 AND round = $2::int AND rows_bound IS NOT NULL "
                                      "FOR UPDATE",
                                      s),
                          {job, r});
    if (!cursor) return cursor.error();
    if (cursor->size() == 0 || cursor->int64(0, 0) >= cursor->int64(0, 1)) {
      if (auto st = tx->commit(); !st) return st.error();
      return std::optional<RowTask>{};
    }
    const std::int64_t lo = cursor->int64(0, 0), bound = cursor->int64(0, 1);
    auto hi = end_after(lo, bound);
    if (!hi) return hi.error();
    auto made = db.exec(fmt::format(R"(
        INSERT INTO {0}.tasks (job_id, round, kind, number, lo, hi, owner, epoch, lease_until)
        SELECT $1, $2::int, 'rows',
               (SELECT coalesce(max(number), -1) + 1 FROM {0}.tasks
                WHERE job_id = $1 AND round = $2::int AND kind = 'rows'),
               $5::bigint, $6::bigint, $3, nextval('{0}.epochs'), now() + $4::interval
        RETURNING number, epoch)",
                                    s),
                        {job, r, w, lease_interval(), std::to_string(lo), std::to_string(*hi)});
    if (!made) return made.error();
    auto moved =
        db.exec(fmt::format("UPDATE {}.jobs SET rows_cursor = $3::bigint WHERE job_id = $1 AND "
                            "round = $2::int",
                            s),
                {job, r, std::to_string(*hi)});
    if (!moved) return moved.error();
    task = RowTask{static_cast<int>(made->int64(0, 0)), lo, *hi, made->int64(0, 1)};
  }
  auto logged = db.exec(fmt::format("INSERT INTO {}.claims (job_id, kind, number, epoch, "
                                    "worker_id, round, lo, hi) "
                                    "VALUES ($1, 'rows', $2, $3, $4, $5, $6, $7)",
                                    s),
                        {job, std::to_string(task->number), std::to_string(task->epoch), w, r,
                         std::to_string(task->lo), std::to_string(task->hi)});
  if (!logged) return logged.error();
  if (auto st = tx->commit(); !st) return st.error();
  return task;
}

Result<bool> ClaimStore::fence(int round, const Claim& claim) {
  // The row stays locked until this transaction ends: a worker taking the claim over waits,
  // then finds the lease renewed (here) or the task complete. The heartbeat skips it meanwhile.
  auto r = state_.db().exec(
      fmt::format("UPDATE {}.tasks SET lease_until = now() + $6::interval WHERE job_id = $1 AND "
                  "round = $2::int AND kind = $3 AND number = $4::int AND epoch = $5::bigint "
                  "RETURNING 1",
                  state_.schema()),
      {state_.job_id(), std::to_string(round), to_string(claim.kind), std::to_string(claim.number),
       std::to_string(claim.epoch), lease_interval()});
  if (!r) return r.error();
  if (r->size() == 0) return false;
  auto logged = state_.db().exec(
      fmt::format("UPDATE {}.claims SET last_commit_at = clock_timestamp() WHERE job_id = $1 AND "
                  "kind = $2 AND number = $3::int AND epoch = $4::bigint",
                  state_.schema()),
      {state_.job_id(), to_string(claim.kind), std::to_string(claim.number),
       std::to_string(claim.epoch)});
  if (!logged) return logged.error();
  return true;
}

}  // namespace rehome::engine
