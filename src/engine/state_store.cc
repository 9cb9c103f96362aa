#include "engine/state_store.h"

#include <fmt/format.h>

#include "pg/identifier.h"

namespace rehome::engine {

const char* to_string(ObjectState state) noexcept {
  switch (state) {
    case ObjectState::kCopied: return "copied";
    case ObjectState::kConflict: return "conflict";
    case ObjectState::kMissing: return "missing";
    case ObjectState::kFailed: return "failed";
  }
  return "unknown";
}

std::optional<ObjectState> parse_object_state(std::string_view text) {
  if (text == "copied") return ObjectState::kCopied;
  if (text == "conflict") return ObjectState::kConflict;
  if (text == "missing") return ObjectState::kMissing;
  if (text == "failed") return ObjectState::kFailed;
  return std::nullopt;
}

StateStore::StateStore(pg::Connection& db, std::string schema, std::string job)
    : db_(db), job_(std::move(job)) {
  auto quoted = pg::quote_identifier(schema);
  // config validation has already rejected bad names; reaching here with one is a bug.
  if (!quoted) throw std::invalid_argument(quoted.error().message);
  quoted_schema_ = std::move(quoted.value());
}

Status StateStore::ensure_schema() {
  const auto& s = quoted_schema_;
  // Keys are compared byte-wise (COLLATE "C") like S3 orders them, so the watermark and
  // the listing agree about what comes before what. A job is named by its table, buckets and
  // prefixes (some 60 bytes); the tables with a row per object or per rewrite carry its small
  // integer id instead, which keeps their indexes narrow: every rewritten row looks its object
  // up by (job_id, legacy_key) and logs itself under (job_id, old_path). Measured on the
  // rewrite statement: a third less time than with the name as the key.
  std::string ddl = fmt::format(R"(
    CREATE TABLE IF NOT EXISTS {0}.jobs (
      job text PRIMARY KEY,
      job_id integer GENERATED ALWAYS AS IDENTITY UNIQUE,
      listing_watermark text COLLATE "C" NOT NULL DEFAULT '',
      listing_completed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS {0}.objects (
      job_id integer NOT NULL,
      legacy_key text COLLATE "C" NOT NULL,
      state text NOT NULL CHECK (state IN ('copied', 'conflict', 'missing', 'failed')),
      etag text NOT NULL DEFAULT '',
      size bigint NOT NULL DEFAULT 0,
      production_etag text NOT NULL DEFAULT '',
      detail text NOT NULL DEFAULT '',
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, legacy_key));
    CREATE INDEX IF NOT EXISTS objects_to_recheck ON {0}.objects (job_id, legacy_key)
      WHERE state IN ('conflict', 'failed');
    CREATE TABLE IF NOT EXISTS {0}.ranges (
      job_id integer NOT NULL,
      range_no integer NOT NULL,
      start_after text COLLATE "C" NOT NULL,
      last_key text COLLATE "C" NOT NULL,
      watermark text COLLATE "C" NOT NULL DEFAULT '',
      completed_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, range_no));
    CREATE TABLE IF NOT EXISTS {0}.batches (
      batch_id bigserial PRIMARY KEY,
      job_id integer NOT NULL,
      committed_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS {0}.rewrites (
      job_id integer NOT NULL,
      row_id bigint NOT NULL,
      old_path text COLLATE "C" NOT NULL,
      new_path text NOT NULL,
      batch_id bigint NOT NULL,
      rewritten_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS rewrites_by_old_path ON {0}.rewrites (job_id, old_path);
  )",
                                s);
  // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; an advisory lock
  // held for the transaction serialises the first runs of several processes.
  auto tx = pg::Transaction::begin(db_);
  if (!tx) return tx.error();
  // IF NOT EXISTS notices on every rerun are noise in the operator's terminal.
  if (auto r = db_.exec("SET LOCAL client_min_messages = warning"); !r) return r.error();
  if (auto r = db_.exec("SELECT pg_advisory_xact_lock(hashtext('rehome schema'))"); !r) {
    return r.error();
  }
  // CREATE SCHEMA IF NOT EXISTS checks CREATE on the database even when the schema exists, so
  // it is sent only when needed: an administrator may pre-create the schema for a role that
  // has no CREATE on the database (docs/PRIVILEGES.md, option 2).
  auto present = db_.exec("SELECT to_regnamespace($1) IS NOT NULL", {quoted_schema_});
  if (!present) return present.error();
  if (present->text(0, 0) != "t") {
    if (auto r = db_.exec(fmt::format("CREATE SCHEMA IF NOT EXISTS {}", s)); !r) return r.error();
  }
  if (auto st = refuse_older_layout(); !st) return st;
  // One statement per exec: the extended protocol (PQexecParams) takes one at a time.
  std::size_t start = 0;
  while (start < ddl.size()) {
    std::size_t end = ddl.find(';', start);
    if (end == std::string::npos) end = ddl.size();
    std::string statement = ddl.substr(start, end - start);
    start = end + 1;
    if (statement.find_first_not_of(" \n") == std::string::npos) continue;
    if (auto r = db_.exec(statement); !r) return r.error();
  }
  auto reg = db_.exec(
      fmt::format("INSERT INTO {}.jobs (job) VALUES ($1) ON CONFLICT DO NOTHING", s), {job_});
  if (!reg) return reg.error();
  if (auto found = find_job(); !found) return found.error();
  return tx->commit();
}

// Before job ids, every table was keyed by the job's name. Such a schema cannot be upgraded in
// place without rewriting every row, so it is refused with what to do, before anything runs.
Status StateStore::refuse_older_layout() {
  auto r = db_.exec(
      "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
      "AND attname = 'job' AND NOT attisdropped)",
      {quoted_schema_ + ".objects"});
  if (!r) return r.error();
  if (r->text(0, 0) != "t") return Ok{};
  return Error::invalid_input(
      fmt::format("schema {} holds bookkeeping written by an earlier rehome (keyed by job "
                  "name), which this version cannot read: finish that job with the "
                  "version that started it, or point this one at a new schema with "
                  "--state-schema (the old one keeps its record of copies and rewrites)",
                  quoted_schema_));
}

Result<bool> StateStore::find_job() {
  if (auto st = refuse_older_layout(); !st) return st.error();
  auto r =
      db_.exec(fmt::format("SELECT job_id FROM {}.jobs WHERE job = $1", quoted_schema_), {job_});
  if (!r) return r.error();
  if (r->size() == 0) return false;
  job_id_ = std::to_string(r->int64(0, 0));
  return true;
}

Result<bool> StateStore::exists() {
  auto r = db_.exec("SELECT to_regclass($1) IS NOT NULL", {quoted_schema_ + ".objects"});
  if (!r) return r.error();
  return r->text(0, 0) == "t";
}

namespace {

// Who holds the job's advisory lock, for messages: "PostgreSQL session 4242 (application
// "rehome", since 2026-12-02 10:00:00+00)". pg_locks and these columns of pg_stat_activity are
// readable by every role. A single-bigint advisory key is split into classid (high 32 bits)
// and objid (low 32 bits), with objsubid 1.
std::string describe_lock_holder(pg::Connection& db, const std::string& job) {
  auto r = db.exec(
      "SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.backend_start::text, '') "
      "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
      "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND l.classid::bigint = (hashtext($1)::bigint >> 32) & 4294967295 "
      "AND l.objid::bigint = hashtext($1)::bigint & 4294967295",
      {job});
  if (!r || r->size() == 0) return "another PostgreSQL session";
  std::string who = fmt::format("PostgreSQL session {}", r->text(0, 0));
  if (!r->text(0, 1).empty()) who += fmt::format(" (application \"{}\"", r->text(0, 1));
  if (!r->text(0, 2).empty()) {
    who += r->text(0, 1).empty() ? " (" : ", ";
    who += fmt::format("connected since {}", r->text(0, 2));
  }
  if (!r->text(0, 1).empty() || !r->text(0, 2).empty()) who += ")";
  return who;
}

Result<bool> try_job_lock(pg::Connection& db, const std::string& job) {
  auto r = db.exec("SELECT pg_try_advisory_lock(hashtext($1))", {job});
  if (!r) return r.error();
  return r->text(0, 0) == "t";
}

}  // namespace

Status StateStore::lock_job() {
  auto taken = try_job_lock(db_, job_);
  if (!taken) return taken.error();
  if (!*taken) {
    return Error::of(
        ErrorKind::kConflict,
        fmt::format("another rehome process is already running the job \"{}\" against "
                    "this database ({} holds its lock): wait for it to finish or stop it",
                    job_, describe_lock_holder(db_, job_)));
  }
  // The lock belongs to the server session: a reconnect must take it again before this
  // process goes on, or a second process could start the same job unnoticed.
  db_.set_session_setup([job = job_](pg::Connection& db) -> Status {
    auto again = try_job_lock(db, job);
    if (!again) return again.error();
    if (*again) return Ok{};
    // Transient: when the holder is this process's own previous session, which the server has
    // not yet seen close, waiting (retry_db's patience) is all it takes.
    return Error::of(
        ErrorKind::kTransient,
        fmt::format("the connection to PostgreSQL broke, the job \"{}\"'s lock went "
                    "with it, and {} holds it now. If another rehome process runs this "
                    "job, let it finish; if not, that session is this process's lost "
                    "connection, which the server ends once it notices (see "
                    "tcp_keepalives_idle), or which a DBA can end with "
                    "pg_terminate_backend",
                    job, describe_lock_holder(db, job)));
  });
  return Ok{};
}

Result<JobProgress> StateStore::progress() {
  auto r = db_.exec(fmt::format("SELECT listing_watermark, listing_completed_at IS NOT NULL "
                                "FROM {}.jobs WHERE job = $1",
                                quoted_schema_),
                    {job_});
  if (!r) return r.error();
  JobProgress p;
  if (r->size() == 1) {
    p.listing_watermark = std::string(r->text(0, 0));
    p.listing_complete = r->text(0, 1) == "t";
  }
  return p;
}

Status StateStore::record(const std::vector<ObjectRecord>& records,
                          const std::vector<RangeMark>& marks, bool listing_complete) {
  auto tx = pg::Transaction::begin(db_);
  if (!tx) return tx.error();
  if (auto st = upsert_objects(records); !st) return st;
  if (auto st = mark_ranges(marks); !st) return st;
  if (listing_complete) {
    auto r = db_.exec(fmt::format("UPDATE {}.jobs SET listing_completed_at = now(), "
                                  "updated_at = now() WHERE job = $1",
                                  quoted_schema_),
                      {job_});
    if (!r) return r.error();
  }
  return tx->commit();
}

Status StateStore::upsert_objects(const std::vector<ObjectRecord>& records) {
  if (records.empty()) return Ok{};
  std::vector<std::string> keys, states, etags, prod_etags, details;
  std::vector<std::int64_t> sizes;
  for (const auto& rec : records) {
    keys.push_back(rec.legacy_key);
    states.emplace_back(to_string(rec.state));
    etags.push_back(rec.etag);
    sizes.push_back(rec.size);
    prod_etags.push_back(rec.production_etag);
    details.push_back(rec.detail);
  }
  auto r = db_.exec(fmt::format(R"(
      INSERT INTO {}.objects AS o (job_id, legacy_key, state, etag, size, production_etag, detail)
      SELECT $1, k, st, e, sz, pe, d
      FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])
           AS u(k, st, e, sz, pe, d)
      ON CONFLICT (job_id, legacy_key) DO UPDATE
      SET state = EXCLUDED.state, etag = EXCLUDED.etag, size = EXCLUDED.size,
          production_etag = EXCLUDED.production_etag, detail = EXCLUDED.detail,
          updated_at = now())",
                                quoted_schema_),
                    {job_id_, pg::text_array_literal(keys), pg::text_array_literal(states),
                     pg::text_array_literal(etags), pg::int_array_literal(sizes),
                     pg::text_array_literal(prod_etags), pg::text_array_literal(details)});
  if (!r) return r.error();
  return Ok{};
}

Status StateStore::mark_ranges(const std::vector<RangeMark>& marks) {
  if (marks.empty()) return Ok{};
  std::vector<std::int64_t> numbers;
  std::vector<std::string> watermarks, complete;
  for (const auto& m : marks) {
    numbers.push_back(m.number);
    watermarks.push_back(m.watermark);
    complete.emplace_back(m.complete ? "t" : "f");
  }
  // A watermark only moves forward, and "" leaves it where it is: replaying an older mark
  // after a newer one committed must not send a rerun back over recorded keys (harmless, but
  // slow).
  auto r = db_.exec(fmt::format(R"(
      UPDATE {}.ranges AS r
      SET watermark = GREATEST(r.watermark, m.w),
          completed_at = CASE WHEN m.c AND r.completed_at IS NULL THEN now()
                              ELSE r.completed_at END,
          updated_at = now()
      FROM unnest($2::int[], $3::text[], $4::bool[]) AS m(n, w, c)
      WHERE r.job_id = $1 AND r.range_no = m.n)",
                                quoted_schema_),
                    {job_id_, pg::int_array_literal(numbers), pg::text_array_literal(watermarks),
                     pg::text_array_literal(complete)});
  if (!r) return r.error();
  return Ok{};
}

Result<std::vector<RangeProgress>> StateStore::ranges() {
  auto r = db_.exec(fmt::format("SELECT range_no, start_after, last_key, watermark, "
                                "completed_at IS NOT NULL FROM {}.ranges WHERE job_id = $1 "
                                "ORDER BY start_after, range_no",
                                quoted_schema_),
                    {job_id_});
  if (!r) return r.error();
  std::vector<RangeProgress> out;
  out.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) {
    RangeProgress p;
    p.number = static_cast<int>(r->int64(i, 0));
    p.range.start_after = std::string(r->text(i, 1));
    p.range.last = std::string(r->text(i, 2));
    p.watermark = std::string(r->text(i, 3));
    p.complete = r->text(i, 4) == "t";
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<RangeProgress>> StateStore::save_ranges(const std::vector<KeyRange>& plan) {
  std::vector<std::int64_t> numbers;
  std::vector<std::string> starts, lasts;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    numbers.push_back(static_cast<std::int64_t>(i));
    starts.push_back(plan[i].start_after);
    lasts.push_back(plan[i].last);
  }
  // All or nothing, and only into an empty plan: the advisory lock makes one process per job,
  // but a plan half saved by a killed run must not be completed by a different plan.
  auto r = db_.exec(fmt::format(R"(
      INSERT INTO {0}.ranges (job_id, range_no, start_after, last_key)
      SELECT $1, n, s, l FROM unnest($2::int[], $3::text[], $4::text[]) AS p(n, s, l)
      WHERE NOT EXISTS (SELECT 1 FROM {0}.ranges WHERE job_id = $1))",
                                quoted_schema_),
                    {job_id_, pg::int_array_literal(numbers), pg::text_array_literal(starts),
                     pg::text_array_literal(lasts)});
  if (!r) return r.error();
  return ranges();
}

Status StateStore::split_range(int number, const std::string& last, const std::string& point,
                               int new_number) {
  auto r = db_.exec(fmt::format(R"(
      WITH donor AS (
        UPDATE {0}.ranges SET last_key = $4, updated_at = now()
        WHERE job_id = $1 AND range_no = $2 AND last_key = $3 AND completed_at IS NULL
        RETURNING job_id)
      INSERT INTO {0}.ranges (job_id, range_no, start_after, last_key)
      SELECT job_id, $5, $4, $3 FROM donor)",
                                quoted_schema_),
                    {job_id_, std::to_string(number), last, point, std::to_string(new_number)});
  if (!r) return r.error();
  return Ok{};
}

Status StateStore::reset_listing() {
  auto tx = pg::Transaction::begin(db_);
  if (!tx) return tx.error();
  for (const char* sql : {"UPDATE {0}.jobs SET listing_watermark = '', listing_completed_at = "
                          "NULL, updated_at = now() WHERE job_id = $1",
                          "DELETE FROM {0}.ranges WHERE job_id = $1"}) {
    auto r = db_.exec(fmt::format(fmt::runtime(sql), quoted_schema_), {job_id_});
    if (!r) return r.error();
  }
  return tx->commit();
}

Result<std::vector<ObjectRecord>> StateStore::records_in_state(
    const std::vector<ObjectState>& states, const std::string& after, int limit) {
  std::vector<std::string> names;
  for (auto s : states) names.emplace_back(to_string(s));
  auto r = db_.exec(fmt::format("SELECT legacy_key, state, etag, size, production_etag, detail "
                                "FROM {}.objects WHERE job_id = $1 AND state = ANY($2::text[]) AND "
                                "legacy_key > $3 ORDER BY legacy_key LIMIT $4",
                                quoted_schema_),
                    {job_id_, pg::text_array_literal(names), after, std::to_string(limit)});
  if (!r) return r.error();
  std::vector<ObjectRecord> out;
  out.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) {
    ObjectRecord rec;
    rec.legacy_key = std::string(r->text(i, 0));
    rec.state = parse_object_state(r->text(i, 1)).value_or(ObjectState::kFailed);
    rec.etag = std::string(r->text(i, 2));
    rec.size = r->int64(i, 3);
    rec.production_etag = std::string(r->text(i, 4));
    rec.detail = std::string(r->text(i, 5));
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace rehome::engine
