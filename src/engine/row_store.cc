#include "engine/row_store.h"

#include "engine/key_map.h"

#include <fmt/format.h>

#include "pg/identifier.h"
#include "util/failpoint.h"

namespace rehome::engine {

namespace {

Error invalid(std::string message) { return Error::invalid_input(std::move(message)); }

std::string quoted(const std::string& name) {
  auto q = pg::quote_identifier(name);
  if (!q) throw std::invalid_argument(q.error().message);  // config validation ran first
  return q.value();
}

}  // namespace

RowStore::RowStore(pg::Connection& db, const JobConfig& config, const StateStore& state)
    : db_(db),
      config_(config),
      state_(state),
      table_(quoted(config.table)),
      id_(quoted(config.id_column)),
      path_(quoted(config.path_column)) {}

Status RowStore::check_table() {
  auto table = db_.exec("SELECT to_regclass($1)::text", {table_});
  if (!table) return table.error();
  if (table->is_null(0, 0)) {
    return invalid(
        fmt::format("table {} does not exist in {} (or this role cannot see it): "
                    "check --table and the database",
                    config_.table, db_.describe()));
  }
  auto columns = db_.exec(
      "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
      "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
      "AND a.attname = ANY($2::text[])",
      {table_, pg::text_array_literal({config_.id_column, config_.path_column})});
  if (!columns) return columns.error();
  std::string id_type, path_type;
  for (int i = 0; i < columns->size(); ++i) {
    if (columns->text(i, 0) == config_.id_column) id_type = std::string(columns->text(i, 1));
    if (columns->text(i, 0) == config_.path_column) path_type = std::string(columns->text(i, 1));
  }
  if (id_type.empty()) {
    return invalid(fmt::format("table {} has no column {}: check --id-column", config_.table,
                               config_.id_column));
  }
  if (path_type.empty()) {
    return invalid(fmt::format("table {} has no column {}: check --path-column", config_.table,
                               config_.path_column));
  }
  if (id_type != "integer" && id_type != "bigint" && id_type != "smallint") {
    return invalid(
        fmt::format("column {}.{} is {}, not an integer: rehome walks the table by "
                    "an integer key (choose one with --id-column)",
                    config_.table, config_.id_column, id_type));
  }
  if (path_type != "text" && path_type != "character varying" && path_type != "character") {
    return invalid(
        fmt::format("column {}.{} is {}, not text: rehome rewrites text paths "
                    "(choose the path column with --path-column)",
                    config_.table, config_.path_column, path_type));
  }
  return check_row_security();
}

// Row-level security filters rows silently: rehome would see only the rows the policies show
// it, call the job complete, and cleanup would then delete objects hidden rows still name. A
// table whose policies apply to this role is refused (and every connection runs with
// row_security = off, so a query PostgreSQL would filter fails instead).
Status RowStore::check_row_security() {
  auto r = db_.exec(
      "SELECT c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls) "
      "AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE')), current_user "
      "FROM pg_class c, pg_roles r WHERE c.oid = $1::regclass AND r.rolname = current_user",
      {table_});
  if (!r) return r.error();
  if (r->size() == 1 && r->text(0, 0) == "t") {
    return Error::of(
        ErrorKind::kAccessDenied,
        fmt::format("table {} has row-level security and its policies apply to role {}: rehome "
                    "would see only the rows they show it, call the job done and let cleanup "
                    "delete objects the other rows still name. Run rehome as a role with "
                    "BYPASSRLS (ALTER ROLE {} BYPASSRLS) or as the table's owner (without FORCE "
                    "ROW LEVEL SECURITY): docs/PRIVILEGES.md",
                    config_.table, r->text(0, 1), r->text(0, 1)));
  }
  return Ok{};
}

Status RowStore::check_can_rewrite() {
  auto r = db_.exec("SELECT has_column_privilege($1, $2, 'UPDATE')", {table_, config_.path_column});
  if (!r) return r.error();
  if (r->text(0, 0) != "t") {
    return Error::of(ErrorKind::kAccessDenied,
                     fmt::format("{}: this role may not UPDATE column {} of table {}: grant "
                                 "UPDATE ({}) ON {} (docs/PRIVILEGES.md)",
                                 db_.describe(), config_.path_column, config_.table,
                                 config_.path_column, config_.table),
                     "42501");
  }
  return Ok{};
}

Result<IdBounds> RowStore::id_bounds() {
  auto r = db_.exec(fmt::format("SELECT min({0}), max({0}) FROM {1}", id_, table_));
  if (!r) return r.error();
  IdBounds b;
  if (r->is_null(0, 0)) return b;
  b.min = r->int64(0, 0);
  b.max = r->int64(0, 1);
  b.empty = false;
  return b;
}

Result<std::vector<std::string>> RowStore::legacy_keys_named(const std::vector<std::string>& keys) {
  auto r = db_.exec(
      fmt::format("SELECT DISTINCT {0}::text FROM {1} WHERE {0} = ANY($1::text[])", path_, table_),
      {pg::text_array_literal(keys)});
  if (!r) return r.error();
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) out.emplace_back(r->text(i, 0));
  return out;
}

Result<std::int64_t> RowStore::legacy_rows_after(std::int64_t bound) {
  auto r = db_.exec(fmt::format("SELECT count(*) FROM {} WHERE {} > $1::bigint AND {}", table_, id_,
                                KeyMap::sql_is_under(path_, "$2")),
                    {std::to_string(bound), config_.legacy.prefix});
  if (!r) return r.error();
  return r->int64(0, 0);
}

Result<std::optional<std::int64_t>> RowStore::range_end_after(std::int64_t lo, std::int64_t width) {
  auto r = db_.exec(fmt::format("SELECT {0} FROM {1} WHERE {0} > $1::bigint ORDER BY {0} "
                                "OFFSET $2::bigint LIMIT 1",
                                id_, table_),
                    {std::to_string(lo), std::to_string(width - 1)});
  if (!r) return r.error();
  if (r->size() == 0) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>{r->int64(0, 0)};
}

Result<PathCounts> RowStore::count_paths() {
  auto r = db_.exec(
      fmt::format("SELECT count(*) FILTER (WHERE {0} IS NULL), count(*) FILTER (WHERE {0} = ''), "
                  "count(*) FILTER (WHERE {2}), count(*) FILTER (WHERE {3}), count(*) FROM {1}",
                  path_, table_, KeyMap::sql_is_under(path_, "$1"),
                  KeyMap::sql_is_under(path_, "$2")),
      {config_.legacy.prefix, config_.production.prefix});
  if (!r) return r.error();
  PathCounts c;
  c.null = static_cast<std::uint64_t>(r->int64(0, 0));
  c.empty = static_cast<std::uint64_t>(r->int64(0, 1));
  c.legacy = static_cast<std::uint64_t>(r->int64(0, 2));
  c.production = static_cast<std::uint64_t>(r->int64(0, 3));
  auto total = static_cast<std::uint64_t>(r->int64(0, 4));
  c.other = total - c.null - c.empty - c.legacy - c.production;
  return c;
}

Result<std::string> RowStore::server_now() {
  auto r = db_.exec("SELECT now()::text");
  if (!r) return r.error();
  return std::string(r->text(0, 0));
}

Result<FlipResult> RowStore::flip_range(std::int64_t lo, std::int64_t hi, const RangeFence& fence) {
  const std::string& s = state_.schema();
  auto tx = pg::Transaction::begin(db_);
  if (!tx) return tx.error();
  if (fence) {
    // First: the claim's row stays locked until this transaction ends, so no other worker takes
    // the range over while these rows are rewritten.
    auto held = fence();
    if (!held) return held.error();
    if (!*held) return FlipResult{.fenced = true};
  }
  // A lock this transaction cannot get within the timeout fails it (55P03, retried later)
  // rather than leaving the application's requests queued behind it.
  if (auto set = db_.exec("SELECT set_config('lock_timeout', $1, true)",
                          {std::to_string(config_.lock_timeout.count() * 1000)});
      !set) {
    return set.error();
  }
  auto batch =
      db_.exec(fmt::format("INSERT INTO {}.batches (job_id) VALUES ($1) RETURNING batch_id", s),
               {state_.job_id()});
  if (!batch) return batch.error();
  const std::int64_t batch_id = batch->int64(0, 0);
  // The compare-and-swap: "t.path = o.legacy_key" is re-checked by PostgreSQL against the
  // row's newest version if the application updated it concurrently, so its write wins.
  // Rows the application holds locked are skipped, never waited for (SKIP LOCKED): the
  // caller retries them once free. The same statement counts the range's legacy rows (in
  // its snapshot, before the update) and those it could lock: when every one was rewritten,
  // the caller has nothing left to look up in this range.
  auto flipped = db_.exec(
      fmt::format(R"(
    WITH lockable AS (
      SELECT t.{i} AS id FROM {t} AS t
      WHERE t.{i} > $1::bigint AND t.{i} <= $2::bigint AND {is_legacy}
      FOR UPDATE SKIP LOCKED),
    flipped AS (
      UPDATE {t} AS t
      SET {p} = {to_production}
      FROM {s}.objects AS o
      WHERE t.{i} IN (SELECT id FROM lockable)
        AND {is_legacy}
        AND o.job_id = $5 AND o.legacy_key = t.{p} COLLATE "C" AND o.state = 'copied'
      RETURNING t.{i} AS id, o.legacy_key AS old_path, t.{p} AS new_path),
    logged AS (
      INSERT INTO {s}.rewrites (job_id, row_id, old_path, new_path, batch_id)
      SELECT $5, id, old_path, new_path, $6 FROM flipped
      RETURNING 1)
    SELECT (SELECT count(*) FROM logged),
           (SELECT count(*) FROM {t} AS t
            WHERE t.{i} > $1::bigint AND t.{i} <= $2::bigint AND {is_legacy}),
           (SELECT count(*) FROM lockable))",
                  fmt::arg("t", table_), fmt::arg("p", path_), fmt::arg("i", id_), fmt::arg("s", s),
                  fmt::arg("is_legacy", KeyMap::sql_is_under("t." + path_, "$3")),
                  fmt::arg("to_production", KeyMap::sql_swap_prefix("t." + path_, "$3", "$4"))),
      {std::to_string(lo), std::to_string(hi), config_.legacy.prefix, config_.production.prefix,
       state_.job_id(), std::to_string(batch_id)});
  if (!flipped) return flipped.error();
  FlipResult result{flipped->int64(0, 0), flipped->int64(0, 1),
                    std::max<std::int64_t>(0, flipped->int64(0, 1) - flipped->int64(0, 2))};
  failpoint("between-update-and-commit");
  if (auto st = tx->commit(); !st) {
    if (st.error().kind == ErrorKind::kInDoubt) return settle_in_doubt(batch_id);
    return st.error();
  }
  return result;
}

// The COMMIT's answer was lost. The batch row and its rewrites committed together or not at
// all, so their presence tells which; a replay happens only when they are absent.
Result<FlipResult> RowStore::settle_in_doubt(std::int64_t batch_id) {
  if (auto st = db_.reconnect(); !st) {
    Error e = st.error();
    e.kind = ErrorKind::kInDoubt;
    e.message = fmt::format("batch {} committed or not, unknown (reconnect failed: {})", batch_id,
                            e.message);
    return e;
  }
  auto r = db_.exec(fmt::format("SELECT EXISTS (SELECT 1 FROM {0}.batches WHERE batch_id = $1), "
                                "(SELECT count(*) FROM {0}.rewrites WHERE batch_id = $1)",
                                state_.schema()),
                    {std::to_string(batch_id)});
  if (!r) return r.error();
  // How many legacy rows the range held is not known here: -1 makes the caller look.
  if (r->text(0, 0) == "t") return FlipResult{r->int64(0, 1), -1};
  // Not committed: the caller's retry runs the (idempotent) range again.
  return Error::of(
      ErrorKind::kTransient,
      fmt::format("batch {} did not commit (connection lost during COMMIT)", batch_id));
}

Result<std::vector<std::int64_t>> RowStore::legacy_ids_in_range(std::int64_t lo, std::int64_t hi) {
  auto r = db_.exec(fmt::format("SELECT {0} FROM {1} WHERE {0} > $1::bigint AND {0} <= $2::bigint "
                                "AND {2} ORDER BY {0}",
                                id_, table_, KeyMap::sql_is_under(path_, "$3")),
                    {std::to_string(lo), std::to_string(hi), config_.legacy.prefix});
  if (!r) return r.error();
  std::vector<std::int64_t> ids;
  ids.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) ids.push_back(r->int64(i, 0));
  return ids;
}

Result<std::vector<PendingRow>> RowStore::pending_in_range(std::int64_t lo, std::int64_t hi,
                                                           const std::string& run_started) {
  auto r = db_.exec(fmt::format(R"(
    SELECT t.{i}, t.{p}, COALESCE(o.state, ''), COALESCE(o.updated_at >= $5::timestamptz, false)
    FROM {t} AS t
    LEFT JOIN {s}.objects AS o ON o.job_id = $4 AND o.legacy_key = t.{p} COLLATE "C"
    WHERE t.{i} > $1::bigint AND t.{i} <= $2::bigint AND {is_legacy}
    ORDER BY t.{i})",
                                fmt::arg("t", table_), fmt::arg("p", path_), fmt::arg("i", id_),
                                fmt::arg("s", state_.schema()),
                                fmt::arg("is_legacy", KeyMap::sql_is_under("t." + path_, "$3"))),
                    {std::to_string(lo), std::to_string(hi), config_.legacy.prefix, state_.job_id(),
                     run_started});
  if (!r) return r.error();
  std::vector<PendingRow> rows;
  rows.reserve(static_cast<std::size_t>(r->size()));
  for (int i = 0; i < r->size(); ++i) {
    // "" (no record) stays nullopt; a state this version does not know is a bug in the schema
    // check, and is treated as no record, which only ever leads to another look.
    rows.push_back(PendingRow{r->int64(i, 0), std::string(r->text(i, 1)),
                              parse_object_state(r->text(i, 2)), r->text(i, 3) == "t"});
  }
  return rows;
}

}  // namespace rehome::engine
