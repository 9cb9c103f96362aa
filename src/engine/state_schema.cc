// StateStore's schema: the tables of rehome's bookkeeping, created on first use (idempotent and
// safe when several processes race), and the refusal of a layout an earlier version wrote.
// The layout itself is documented in docs/DESIGN.md.
#include <fmt/format.h>

#include "engine/state_store.h"

namespace rehome::engine {

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
      rows_bound bigint,
      rows_bound_at timestamptz,
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
      copied_from text NOT NULL DEFAULT '',
      copied_etag text NOT NULL DEFAULT '',
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
    CREATE TABLE IF NOT EXISTS {0}.uploads (
      entry bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id integer NOT NULL,
      endpoint text NOT NULL,
      bucket text NOT NULL,
      key text COLLATE "C" NOT NULL,
      upload_id text,
      started_at timestamptz NOT NULL DEFAULT now());
    CREATE SEQUENCE IF NOT EXISTS {0}.epochs;
    CREATE TABLE IF NOT EXISTS {0}.workers (
      worker_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      job_id integer NOT NULL,
      host text NOT NULL,
      pid integer NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      stopped_at timestamptz,
      stage text NOT NULL DEFAULT 'starting',
      objects bigint NOT NULL DEFAULT 0,
      rows_rewritten bigint NOT NULL DEFAULT 0,
      requests bigint NOT NULL DEFAULT 0,
      throttled bigint NOT NULL DEFAULT 0,
      rate_limit double precision NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS workers_by_job ON {0}.workers (job_id, worker_id);
    CREATE TABLE IF NOT EXISTS {0}.tasks (
      job_id integer NOT NULL,
      round integer NOT NULL,
      kind text NOT NULL,
      number integer NOT NULL,
      lo bigint,
      hi bigint,
      owner bigint,
      epoch bigint NOT NULL DEFAULT 0,
      lease_until timestamptz,
      completed_at timestamptz,
      PRIMARY KEY (job_id, round, kind, number));
    CREATE TABLE IF NOT EXISTS {0}.claims (
      job_id integer NOT NULL,
      kind text NOT NULL,
      number integer NOT NULL,
      epoch bigint NOT NULL,
      worker_id bigint NOT NULL,
      round integer NOT NULL DEFAULT 0,
      start_after text COLLATE "C",
      last_key text COLLATE "C",
      lo bigint,
      hi bigint,
      claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      last_commit_at timestamptz,
      ended_at timestamptz,
      end_reason text,
      PRIMARY KEY (job_id, kind, number, epoch));
    CREATE TABLE IF NOT EXISTS {0}.failed_rows (
      job_id integer NOT NULL,
      row_id bigint NOT NULL,
      reason text NOT NULL,
      failed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, row_id));
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
  if (auto st = add_missing_columns(); !st) return st;
  auto reg = db_.exec(
      fmt::format("INSERT INTO {}.jobs (job) VALUES ($1) ON CONFLICT DO NOTHING", s), {job_});
  if (!reg) return reg.error();
  if (auto found = find_job(); !found) return found.error();
  return tx->commit();
}

// Columns later versions added to tables an earlier version created. Each is checked first:
// ALTER TABLE takes an ACCESS EXCLUSIVE lock even when the column exists, which would queue
// every run behind a long `verify` reading the table.
Status StateStore::add_missing_columns() {
  struct Column {
    const char* table;
    const char* name;
    const char* type;
  };
  static constexpr Column kAdded[] = {
      {"jobs", "rows_bound", "bigint"},
      {"jobs", "rows_bound_at", "timestamptz"},
      {"objects", "copied_from", "text NOT NULL DEFAULT ''"},
      {"objects", "copied_etag", "text NOT NULL DEFAULT ''"},
      {"uploads", "endpoint", "text NOT NULL DEFAULT ''"},
      // Several workers (claim_store.h): rounds, the row cursor, the recorded settings; and
      // each key range's claim.
      {"jobs", "round", "integer NOT NULL DEFAULT 0"},
      {"jobs", "round_started_at", "timestamptz"},
      {"jobs", "round_completed_at", "timestamptz"},
      {"jobs", "rows_cursor", "bigint"},
      {"jobs", "settings", "text"},
      {"jobs", "next_range_no", "integer NOT NULL DEFAULT 0"},
      {"uploads", "worker_id", "bigint"},
      // Which process a worker is, to tell it gone on its own machine (claim_store.cc).
      {"workers", "process", "text"},
      {"ranges", "owner", "bigint"},
      {"ranges", "epoch", "bigint NOT NULL DEFAULT 0"},
      {"ranges", "lease_until", "timestamptz"},
      {"ranges", "split_wanted_at", "timestamptz"},
      {"ranges", "remaining", "double precision NOT NULL DEFAULT 0"},
  };
  for (const auto& c : kAdded) {
    const std::string table = quoted_schema_ + "." + c.table;
    auto present = db_.exec(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
        "AND attname = $2 AND NOT attisdropped)",
        {table, c.name});
    if (!present) return present.error();
    if (present->text(0, 0) == "t") continue;
    auto r = db_.exec(
        fmt::format("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}", table, c.name, c.type));
    if (!r) return r.error();
  }
  return Ok{};
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

}  // namespace rehome::engine
