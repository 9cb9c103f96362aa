#include "engine/status.h"

#include <fmt/format.h>

#include "engine/exit_status.h"
#include "engine/row_store.h"
#include "engine/services.h"
#include "engine/state_store.h"
#include "pg/retry.h"

namespace rehome::engine {

namespace {

std::uint64_t u64(const pg::Rows& r, int row, int col) {
  return r.is_null(row, col) ? 0 : static_cast<std::uint64_t>(r.int64(row, col));
}

double f64(const pg::Rows& r, int row, int col) {
  return r.is_null(row, col) ? 0 : std::stod(std::string(r.text(row, col)));
}

std::string duration(double seconds) {
  const auto s = static_cast<std::int64_t>(seconds);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

Status read(const JobConfig& config, pg::Connection& db, StateStore& state, JobStatus& out) {
  const std::string& s = state.schema();
  const std::string lease = fmt::format("{} seconds", config.lease.count());
  auto job = db.exec(fmt::format("SELECT round, round_completed_at IS NOT NULL, "
                                 "listing_completed_at IS NOT NULL, rows_cursor, rows_bound "
                                 "FROM {}.jobs WHERE job_id = $1",
                                 s),
                     {state.job_id()});
  if (!job) return job.error();
  out.round = static_cast<int>(job->int64(0, 0));
  out.round_complete = job->text(0, 1) == "t";
  out.listing_complete = job->text(0, 2) == "t";
  if (!job->is_null(0, 3)) out.rows_cursor = job->int64(0, 3);
  if (!job->is_null(0, 4)) out.rows_bound = job->int64(0, 4);

  ClaimStore claims(state, config.lease);
  auto ranges = claims.count_ranges();
  if (!ranges) return ranges.error();
  out.key_ranges = ranges->keys;
  out.row_ranges = ranges->rows;
  auto tasks = db.exec(fmt::format("SELECT kind, completed_at IS NOT NULL FROM {}.tasks WHERE "
                                   "job_id = $1 AND round = $2::int AND kind <> 'rows'",
                                   s),
                       {state.job_id(), std::to_string(out.round)});
  if (!tasks) return tasks.error();
  bool checked = true;
  for (int i = 0; i < tasks->size(); ++i) checked = checked && tasks->text(i, 1) == "t";
  out.stage = out.round == 0                ? "not started"
              : out.round_complete          ? "complete"
              : !out.listing_complete       ? "objects"
              : !checked || !out.rows_bound ? "check"
                                            : "rows";

  auto workers = db.exec(
      fmt::format("SELECT worker_id, host, pid, started_at::text, heartbeat_at::text, "
                  "extract(epoch FROM now() - heartbeat_at), stage, objects, rows_rewritten, "
                  "requests, throttled, rate_limit, "
                  "greatest(extract(epoch FROM heartbeat_at - started_at), 0.001), "
                  "stopped_at IS NULL AND heartbeat_at >= now() - $2::interval "
                  "FROM {}.workers WHERE job_id = $1 ORDER BY worker_id",
                  s),
      {state.job_id(), lease});
  if (!workers) return workers.error();
  for (int i = 0; i < workers->size(); ++i) {
    if (workers->text(i, 13) != "t") {
      ++out.workers_gone;
      continue;
    }
    WorkerStatus w;
    w.id = workers->int64(i, 0);
    w.host = std::string(workers->text(i, 1));
    w.pid = static_cast<int>(workers->int64(i, 2));
    w.started_at = std::string(workers->text(i, 3));
    w.heartbeat_at = std::string(workers->text(i, 4));
    w.seconds_since_heartbeat = f64(*workers, i, 5);
    w.stage = std::string(workers->text(i, 6));
    w.objects = u64(*workers, i, 7);
    w.rows = u64(*workers, i, 8);
    w.requests = u64(*workers, i, 9);
    w.throttled = u64(*workers, i, 10);
    w.rate_limit = f64(*workers, i, 11);
    const double up = f64(*workers, i, 12);
    w.objects_per_second = static_cast<double>(w.objects) / up;
    w.rows_per_second = static_cast<double>(w.rows) / up;
    out.workers.push_back(std::move(w));
  }

  auto objects = db.exec(fmt::format("SELECT count(*) FILTER (WHERE state = 'copied'), "
                                     "count(*) FILTER (WHERE state = 'conflict'), "
                                     "count(*) FILTER (WHERE state = 'missing'), "
                                     "count(*) FILTER (WHERE state = 'failed') "
                                     "FROM {}.objects WHERE job_id = $1",
                                     s),
                         {state.job_id()});
  if (!objects) return objects.error();
  out.objects_copied = u64(*objects, 0, 0);
  out.objects_conflict = u64(*objects, 0, 1);
  out.objects_missing = u64(*objects, 0, 2);
  out.objects_failed = u64(*objects, 0, 3);
  auto rewritten =
      db.exec(fmt::format("SELECT (SELECT count(*) FROM {0}.rewrites WHERE job_id = $1), "
                          "(SELECT count(*) FROM {0}.failed_rows WHERE job_id = $1)",
                          s),
              {state.job_id()});
  if (!rewritten) return rewritten.error();
  out.rows_rewritten = u64(*rewritten, 0, 0);
  out.rows_failed = u64(*rewritten, 0, 1);
  RowStore table(db, config, state);
  auto counts = table.count_paths();
  if (!counts) return counts.error();
  out.rows_legacy = counts->legacy;

  // ETA: the legacy rows left at the workers' pace. While objects are copied, each legacy row
  // still waits for its object (about one each); the rows themselves go much faster.
  double objects_rate = 0, rows_rate = 0;
  for (const auto& w : out.workers) {
    objects_rate += w.objects_per_second;
    rows_rate += w.rows_per_second;
  }
  if (out.stage == "complete") {
    out.eta_seconds = 0;
  } else if (out.stage == "objects" && objects_rate > 0) {
    const double left = static_cast<double>(out.rows_legacy) -
                        static_cast<double>(out.objects_copied + out.objects_conflict);
    out.eta_seconds = std::max(0.0, left) / objects_rate;
  } else if (out.stage == "rows" && rows_rate > 0) {
    out.eta_seconds = static_cast<double>(out.rows_legacy) / rows_rate;
  }

  // Stalls: a key range whose watermark has not moved, or a primary-key range held, for
  // minutes by a live worker.
  auto stalled = db.exec(
      fmt::format("SELECT 'key range ' || r.range_no, r.owner, w.host, w.pid, "
                  "extract(epoch FROM now() - r.updated_at) FROM {0}.ranges r "
                  "JOIN {0}.workers w ON w.worker_id = r.owner "
                  "WHERE r.job_id = $1 AND r.completed_at IS NULL AND r.lease_until >= now() "
                  "AND r.updated_at < now() - $2::interval "
                  "UNION ALL "
                  "SELECT 'row range ' || t.number || ' (' || t.lo || ', ' || t.hi || ']', "
                  "t.owner, w.host, w.pid, extract(epoch FROM now() - c.claimed_at) "
                  "FROM {0}.tasks t JOIN {0}.workers w ON w.worker_id = t.owner "
                  "JOIN {0}.claims c ON c.job_id = t.job_id AND c.kind = t.kind "
                  "AND c.number = t.number AND c.epoch = t.epoch "
                  "WHERE t.job_id = $1 AND t.completed_at IS NULL AND t.lease_until >= now() "
                  "AND c.claimed_at < now() - $2::interval",
                  s),
      {state.job_id(), fmt::format("{} seconds", kStallSeconds)});
  if (!stalled) return stalled.error();
  for (int i = 0; i < stalled->size(); ++i) {
    out.stalls.push_back(fmt::format("{} (worker {} on {}, pid {}): no progress for {}",
                                     stalled->text(i, 0), stalled->text(i, 1), stalled->text(i, 2),
                                     stalled->text(i, 3), duration(f64(*stalled, i, 4))));
  }
  return Ok{};
}

nlohmann::json parts(const PartCounts& c) {
  return {{"done", c.done}, {"claimed", c.claimed}, {"waiting", c.waiting}};
}

}  // namespace

Result<JobStatus> read_status(const JobConfig& config) {
  auto db = connect_database(config);
  if (!db) return db.error();
  JobStatus out;
  out.job = job_name(config);
  StateStore state(*db, config.state_schema, out.job);
  auto exists = state.exists();
  if (!exists) return exists.error();
  Result<bool> found = *exists ? state.find_job() : Result<bool>(false);
  if (!found) return found.error();
  if (!*found) {
    return Error::invalid_input(
        fmt::format("no rehome records of the job \"{}\" in schema {}: nothing has run it yet "
                    "(check --table, the buckets, the prefixes and --state-schema)",
                    out.job, config.state_schema));
  }
  // Read in one snapshot, so the counts agree with each other.
  auto tx = pg::Transaction::begin(*db);
  if (!tx) return tx.error();
  if (auto r = db->exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !r) {
    return r.error();
  }
  if (auto st = read(config, *db, state, out); !st) return st.error();
  return out;
}

int status_exit(const JobStatus& s) {
  if (!s.round_complete) return kExitUnderWay;
  const bool left = s.objects_conflict + s.objects_failed + s.rows_failed + s.rows_legacy > 0;
  return left ? kExitIncomplete : kExitOk;
}

nlohmann::json to_json(const JobStatus& s) {
  nlohmann::json workers = nlohmann::json::array();
  for (const auto& w : s.workers) {
    workers.push_back({{"id", w.id},
                       {"host", w.host},
                       {"pid", w.pid},
                       {"started_at", w.started_at},
                       {"heartbeat_at", w.heartbeat_at},
                       {"seconds_since_heartbeat", w.seconds_since_heartbeat},
                       {"stage", w.stage},
                       {"objects", w.objects},
                       {"rows", w.rows},
                       {"requests", w.requests},
                       {"throttled", w.throttled},
                       {"rate_limit_per_second", w.rate_limit},
                       {"objects_per_second", w.objects_per_second},
                       {"rows_per_second", w.rows_per_second}});
  }
  return {{"job", s.job},
          {"round", s.round},
          {"round_complete", s.round_complete},
          {"stage", s.stage},
          {"listing_complete", s.listing_complete},
          {"key_ranges", parts(s.key_ranges)},
          {"row_ranges", parts(s.row_ranges)},
          {"rows_cursor", s.rows_cursor ? nlohmann::json(*s.rows_cursor) : nlohmann::json()},
          {"rows_bound", s.rows_bound ? nlohmann::json(*s.rows_bound) : nlohmann::json()},
          {"workers", workers},
          {"workers_gone", s.workers_gone},
          {"objects",
           {{"copied", s.objects_copied},
            {"conflict", s.objects_conflict},
            {"missing", s.objects_missing},
            {"failed", s.objects_failed}}},
          {"rows",
           {{"rewritten", s.rows_rewritten}, {"legacy", s.rows_legacy}, {"failed", s.rows_failed}}},
          {"eta_seconds", s.eta_seconds ? nlohmann::json(*s.eta_seconds) : nlohmann::json()},
          {"stalls", s.stalls}};
}

std::vector<std::string> describe(const JobStatus& s) {
  std::vector<std::string> out;
  out.push_back(fmt::format("job: {}", s.job));
  out.push_back(fmt::format("round {}: {}", s.round, s.stage));
  out.push_back(fmt::format("key ranges: {} done, {} claimed, {} waiting{}", s.key_ranges.done,
                            s.key_ranges.claimed, s.key_ranges.waiting,
                            s.listing_complete ? " (listing complete)" : ""));
  if (s.rows_bound) {
    out.push_back(
        fmt::format("row ranges: {} done, {} claimed, {} waiting; handed out up to id "
                    "{} of {}",
                    s.row_ranges.done, s.row_ranges.claimed, s.row_ranges.waiting,
                    s.rows_cursor.value_or(0), *s.rows_bound));
  }
  out.push_back(fmt::format("objects: {} copied, {} conflicts, {} missing, {} failed",
                            s.objects_copied, s.objects_conflict, s.objects_missing,
                            s.objects_failed));
  out.push_back(fmt::format("rows: {} rewritten, {} still legacy, {} could not be rewritten",
                            s.rows_rewritten, s.rows_legacy, s.rows_failed));
  out.push_back(s.eta_seconds ? fmt::format("eta: {}", duration(*s.eta_seconds))
                              : std::string("eta: unknown (no worker at work)"));
  out.push_back(fmt::format("workers alive: {} ({} gone)", s.workers.size(), s.workers_gone));
  for (const auto& w : s.workers) {
    out.push_back(fmt::format(
        "  worker {} on {} pid {}: {}, since {}, heartbeat {:.0f}s ago; {} objects ({:.0f}/s), "
        "{} rows ({:.0f}/s), {} requests ({} throttled), rate limit {}",
        w.id, w.host, w.pid, w.stage, w.started_at, w.seconds_since_heartbeat, w.objects,
        w.objects_per_second, w.rows, w.rows_per_second, w.requests, w.throttled,
        w.rate_limit > 0 ? fmt::format("{:.0f}/s", w.rate_limit) : std::string("none")));
  }
  for (const auto& stall : s.stalls) out.push_back("stalled: " + stall);
  return out;
}

}  // namespace rehome::engine
