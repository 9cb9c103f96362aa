// `rehome plan` and `rehome verify`: both list the two prefixes into temporary tables and
// let PostgreSQL join them with the rows. Neither writes anything that outlives its session.
#include <fmt/format.h>

#include "engine/commands.h"
#include "engine/key_map.h"
#include "engine/row_store.h"
#include "engine/services.h"
#include "engine/snapshot.h"
#include "engine/state_store.h"
#include "pg/identifier.h"

namespace rehome::engine {

namespace {

struct Audit {
  const JobConfig& config;
  Summary summary;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  Summary fail(const Error& error) {
    summary.outcome = Outcome::kFailed;
    summary.error = error.message;
    return done();
  }
  Summary done() {
    summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return summary;
  }
};

std::uint64_t count(const pg::Rows& rows, int column) {
  return static_cast<std::uint64_t>(rows.int64(0, column));
}

/// The SQL for "the twin `p` of legacy object `l` (listing rows) is proven identical": the
/// identity rule's listing part (equal ETag and size) or, for ETags that are not MD5s (SSE-KMS,
/// multipart), the very pair rehome proved and recorded for the job (state.job_id(), legacy
/// prefix in parameter `$prefix`). Before any run there are no records to ask.
std::string sql_proven(const StateStore& state, std::string_view l, std::string_view p,
                       std::string_view prefix) {
  std::string proven = fmt::format("({p}.etag = {l}.etag AND {p}.size = {l}.size)",
                                   fmt::arg("l", l), fmt::arg("p", p));
  if (state.job_id().empty()) return proven;
  return fmt::format(
      "({proven} OR ({p}.size = {l}.size AND EXISTS (SELECT 1 FROM {s}.objects o WHERE "
      "o.job_id = {job} AND o.legacy_key = {key} COLLATE \"C\" AND o.state = 'copied' AND "
      "o.etag = {l}.etag AND o.production_etag = {p}.etag)))",
      fmt::arg("proven", proven), fmt::arg("l", l), fmt::arg("p", p), fmt::arg("s", state.schema()),
      fmt::arg("job", state.job_id()),
      fmt::arg("key", KeyMap::sql_join(prefix, std::string(l) + ".suffix")));
}

/// Lists both prefixes into pg_temp.legacy_listing / pg_temp.production_listing.
Status snapshot_both(const JobConfig& config, S3Services& s3, pg::Connection& db, StateStore& state,
                     Summary& summary) {
  auto legacy = snapshot_listing(s3.loop, s3.legacy, config.legacy.bucket, config.legacy.prefix, db,
                                 "legacy_listing");
  if (!legacy) return legacy.error();
  summary.legacy_objects_present = *legacy;
  auto production = snapshot_listing(s3.loop, s3.production, config.production.bucket,
                                     config.production.prefix, db, "production_listing");
  if (!production) return production.error();
  // Objects: to copy, identical twin, a twin not proven identical (a conflict to look at).
  auto r = db.exec(
      fmt::format(
          "SELECT count(*) FILTER (WHERE p.suffix IS NULL), "
          "count(*) FILTER (WHERE p.suffix IS NOT NULL AND {proven}), "
          "count(*) FILTER (WHERE p.suffix IS NOT NULL AND NOT {proven}) "
          "FROM pg_temp.legacy_listing l LEFT JOIN pg_temp.production_listing p USING (suffix)",
          fmt::arg("proven", sql_proven(state, "l", "p", "$1"))),
      state.job_id().empty() ? pg::Params{} : pg::Params{config.legacy.prefix});
  if (!r) return r.error();
  summary.objects_listed = *legacy;
  summary.objects_to_copy = count(*r, 0);
  summary.objects_already_copied = count(*r, 1);
  summary.objects_conflict = count(*r, 2);
  return Ok{};
}

/// What plan and verify share: check the table and buckets, snapshot both listings, count
/// the table's paths.
Status prepare(const JobConfig& config, pg::Connection& db, StateStore& state, Summary& summary) {
  RowStore rows(db, config, state);
  if (auto st = rows.check_table(); !st) return st;
  S3Services s3(config);
  if (auto st = s3.check_access(config); !st) return st;
  // The job's records, when a run has made them and this role may read them, prove twins the
  // listings cannot (KMS ETags). A read-only role without access to the state schema still gets
  // counts, from the listings alone. CASE, not AND: the order of the checks matters (a schema
  // without USAGE cannot even be asked whether it holds a table).
  auto access = db.exec(
      "SELECT CASE WHEN NOT has_schema_privilege(n.oid, 'USAGE') THEN 'no access' "
      "WHEN to_regclass(format('%I.objects', n.nspname)) IS NULL THEN 'absent' "
      "WHEN has_table_privilege(format('%I.objects', n.nspname), 'SELECT') AND "
      "has_table_privilege(format('%I.jobs', n.nspname), 'SELECT') THEN 'readable' "
      "ELSE 'no access' END FROM pg_namespace n WHERE n.nspname = $1",
      {config.state_schema});
  if (!access) return access.error();
  const std::string records = access->size() == 1 ? std::string(access->text(0, 0)) : "absent";
  if (records == "readable") {
    if (auto found = state.find_job(); !found) return found.error();
  } else if (records == "no access") {
    summary.note_problem(fmt::format(
        "this role cannot read rehome's records in schema {}: twins whose ETags are not MD5s "
        "(SSE-KMS, multipart) count as conflicts; grant USAGE on the schema and SELECT on its "
        "jobs and objects tables for exact counts",
        config.state_schema));
  }
  if (auto st = snapshot_both(config, s3, db, state, summary); !st) return st;
  s3.count_requests(summary);
  auto counts = rows.count_paths();
  if (!counts) return counts.error();
  summary.rows_pending = counts->legacy;
  summary.rows_production = counts->production;
  summary.rows_null = counts->null;
  summary.rows_empty = counts->empty;
  summary.rows_other = counts->other;
  return Ok{};
}

/// A varchar(n) or char(n) path column may not fit the new prefix (avatar/ is one byte longer
/// than image/): the rows that will not fit are named before the run, which would leave them
/// legacy (row_sync.cc isolates them).
Status report_paths_too_long(const JobConfig& config, pg::Connection& db, Summary& summary) {
  const std::string t = *pg::quote_identifier(config.table);
  const std::string p = *pg::quote_identifier(config.path_column);
  const std::string i = *pg::quote_identifier(config.id_column);
  // atttypmod holds n + 4 for varchar(n) and char(n); -1 when unbounded.
  auto limit = db.exec(
      "SELECT a.atttypmod - 4 FROM pg_attribute a WHERE a.attrelid = $1::regclass "
      "AND a.attname = $2 AND a.atttypmod > 4 AND a.atttypid IN ('varchar'::regtype, "
      "'bpchar'::regtype)",
      {t, config.path_column});
  if (!limit) return limit.error();
  if (limit->size() == 0) return Ok{};
  const std::int64_t max = limit->int64(0, 0);
  auto r = db.exec(fmt::format("SELECT count(*), string_agg({i}::text, ', ' ORDER BY {i}) "
                               "FILTER (WHERE n <= 20) FROM (SELECT {i}, row_number() OVER "
                               "(ORDER BY {i}) AS n FROM {t} WHERE {is_legacy} AND "
                               "char_length({new_path}) > $3::int) x",
                               fmt::arg("i", i), fmt::arg("t", t),
                               fmt::arg("is_legacy", KeyMap::sql_is_under(p, "$1")),
                               fmt::arg("new_path", KeyMap::sql_swap_prefix(p, "$1", "$2"))),
                   {config.legacy.prefix, config.production.prefix, std::to_string(max)});
  if (!r) return r.error();
  const std::int64_t too_long = r->int64(0, 0);
  if (too_long == 0) return Ok{};
  summary.note_problem(fmt::format(
      "{} row(s) will not fit column {}.{} (at most {} characters) once rewritten to {}: they "
      "would stay legacy; widen the column before the run (rows {}={}{})",
      too_long, config.table, config.path_column, max, config.production.prefix, config.id_column,
      r->text(0, 1), too_long > 20 ? ", ..." : ""));
  return Ok{};
}

/// Legacy objects re-uploaded in place after rehome copied them, whose twin is still the copy
/// rehome wrote: a row rewritten to it (or about to be) serves the older picture. Known only
/// from the job's records (whatever their state: a refresh that failed leaves the record
/// failed and the copy still stale); `run --relist` refreshes them (copier.cc).
Status report_stale_copies(const JobConfig& config, pg::Connection& db, const StateStore& state,
                           Summary& summary) {
  if (state.job_id().empty()) return Ok{};
  auto r = db.exec(fmt::format(R"(
    SELECT count(*), string_agg(key, ', ' ORDER BY key) FILTER (WHERE n <= 20) FROM (
      SELECT o.legacy_key AS key, row_number() OVER (ORDER BY o.legacy_key) AS n
      FROM pg_temp.legacy_listing l
      JOIN {s}.objects o ON o.job_id = {job} AND o.legacy_key = {key} COLLATE "C"
      JOIN pg_temp.production_listing p USING (suffix)
      WHERE o.copied_etag <> '' AND p.etag = o.copied_etag AND l.etag <> o.copied_from) x)",
                               fmt::arg("s", state.schema()), fmt::arg("job", state.job_id()),
                               fmt::arg("key", KeyMap::sql_join("$1", "l.suffix"))),
                   {config.legacy.prefix});
  if (!r) return r.error();
  summary.objects_stale = count(*r, 0);
  if (summary.objects_stale == 0) return Ok{};
  summary.note_problem(fmt::format(
      "{} legacy object(s) were re-uploaded after rehome copied them, and production still "
      "holds rehome's older copy (rows rewritten to it serve the older content): run `rehome "
      "run --relist` to refresh those copies (first 20: {}{})",
      summary.objects_stale, r->text(0, 1), summary.objects_stale > 20 ? ", ..." : ""));
  return Ok{};
}

}  // namespace

Summary plan(const JobConfig& config, const CommandHooks&) {
  Audit a{config, {}};
  a.summary.command = Command::kPlan;
  auto db = connect_database(config);
  if (!db) return a.fail(db.error());
  StateStore state(*db, config.state_schema, job_name(config));
  if (auto st = prepare(config, *db, state, a.summary); !st) return a.fail(st.error());
  const std::string t = *pg::quote_identifier(config.table);
  const std::string p = *pg::quote_identifier(config.path_column);
  // Rows whose legacy object is absent (broken) or whose twin conflicts, and legacy objects
  // that no row names. Anti-joins on the whole table: PostgreSQL hashes one side.
  auto r = db->exec(fmt::format(R"(
    WITH legacy_rows AS (
      SELECT {legacy_suffix} AS suffix FROM {t} WHERE {is_legacy})
    SELECT
      (SELECT count(*) FROM legacy_rows r
         WHERE NOT EXISTS (SELECT 1 FROM pg_temp.legacy_listing l WHERE l.suffix = r.suffix)),
      (SELECT count(*) FROM legacy_rows r
         JOIN pg_temp.legacy_listing l USING (suffix)
         JOIN pg_temp.production_listing pr USING (suffix)
         WHERE NOT {proven}),
      (SELECT count(*) FROM pg_temp.legacy_listing l
         WHERE NOT EXISTS (SELECT 1 FROM {t} x WHERE x.{p} = {legacy_key})))",
                                fmt::arg("t", t), fmt::arg("p", p),
                                fmt::arg("legacy_suffix", KeyMap::sql_suffix(p, "$1")),
                                fmt::arg("is_legacy", KeyMap::sql_is_under(p, "$1")),
                                fmt::arg("legacy_key", KeyMap::sql_join("$1", "l.suffix")),
                                fmt::arg("proven", sql_proven(state, "l", "pr", "$1"))),
                    {config.legacy.prefix});
  if (!r) return a.fail(r.error());
  a.summary.rows_broken = count(*r, 0);
  a.summary.rows_conflict = count(*r, 1);
  a.summary.objects_unreferenced = count(*r, 2);
  if (auto st = report_paths_too_long(config, *db, a.summary); !st) return a.fail(st.error());
  a.summary.outcome = Outcome::kComplete;
  return a.done();
}

Summary verify(const JobConfig& config, const CommandHooks&) {
  Audit a{config, {}};
  a.summary.command = Command::kVerify;
  auto db = connect_database(config);
  if (!db) return a.fail(db.error());
  StateStore state(*db, config.state_schema, job_name(config));
  if (auto st = prepare(config, *db, state, a.summary); !st) return a.fail(st.error());
  const std::string t = *pg::quote_identifier(config.table);
  const std::string p = *pg::quote_identifier(config.path_column);
  const std::string i = *pg::quote_identifier(config.id_column);
  // Every row under either prefix must name an object its bucket holds: a row of x under the
  // prefix in `param` whose suffix the listing does not hold dangles.
  auto dangles = [&](const char* listing, const char* param) {
    return fmt::format("{} AND NOT EXISTS (SELECT 1 FROM pg_temp.{} l WHERE l.suffix = {})",
                       KeyMap::sql_is_under("x." + p, param), listing,
                       KeyMap::sql_suffix("x." + p, param));
  };
  auto r =
      db->exec(fmt::format(R"(
    SELECT
      (SELECT count(*) FROM {t} x WHERE {legacy_dangles}),
      (SELECT count(*) FROM {t} x WHERE {production_dangles}),
      (SELECT string_agg(format('%s=%s', {i}, {p}), ', ') FROM (
         SELECT x.{i}, x.{p} FROM {t} x
         WHERE ({legacy_dangles}) OR ({production_dangles})
         ORDER BY x.{i} LIMIT 20) d))",
                           fmt::arg("t", t), fmt::arg("p", p), fmt::arg("i", i),
                           fmt::arg("legacy_dangles", dangles("legacy_listing", "$1")),
                           fmt::arg("production_dangles", dangles("production_listing", "$2"))),
               {config.legacy.prefix, config.production.prefix});
  if (!r) return a.fail(r.error());
  const std::uint64_t legacy_dangling = count(*r, 0);
  const std::uint64_t production_dangling = count(*r, 1);
  a.summary.rows_broken = legacy_dangling;
  a.summary.rows_dangling = legacy_dangling + production_dangling;
  if (!r->is_null(0, 2)) {
    a.summary.note_problem(
        fmt::format("rows naming a missing object (first 20): {}", r->text(0, 2)));
  }
  if (auto st = report_stale_copies(config, *db, state, a.summary); !st) return a.fail(st.error());
  a.summary.outcome = a.summary.rows_dangling == 0 && a.summary.objects_stale == 0
                          ? Outcome::kComplete
                          : Outcome::kIncomplete;
  return a.done();
}

}  // namespace rehome::engine
