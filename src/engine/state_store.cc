#include "engine/state_store.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/config.h"
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

// The listing is complete once every one of its ranges is, whoever completed the last.
Status StateStore::complete_listing_if_done() {
  auto r = db_.exec(fmt::format("UPDATE {0}.jobs SET listing_completed_at = now(), "
                                "updated_at = now() WHERE job_id = $1 AND "
                                "listing_completed_at IS NULL AND "
                                "EXISTS (SELECT 1 FROM {0}.ranges WHERE job_id = $1) AND "
                                "NOT EXISTS (SELECT 1 FROM {0}.ranges WHERE job_id = $1 AND "
                                "completed_at IS NULL)",
                                quoted_schema_),
                    {job_id_});
  if (!r) return r.error();
  return Ok{};
}

Result<JobProgress> StateStore::progress() {
  // A listing whose last ranges were completed by workers that then went is complete too.
  if (auto st = complete_listing_if_done(); !st) return st.error();
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

Result<std::vector<int>> StateStore::record(const std::vector<ObjectRecord>& records,
                                            const std::vector<RangeMark>& marks,
                                            const std::vector<RangeSplit>& splits,
                                            const std::vector<RangeClaim>& claims) {
  auto tx = pg::Transaction::begin(db_);
  if (!tx) return tx.error();
  std::vector<int> lost;
  if (!claims.empty()) {
    auto held = fence_ranges(claims, splits);
    if (!held) return held.error();
    lost = std::move(held.value());
  }
  auto is_lost = [&lost](int number) {
    return std::find(lost.begin(), lost.end(), number) != lost.end();
  };
  // Splits first: a mark in the same batch may name the range a split creates.
  for (const auto& split : splits) {
    if (is_lost(split.number)) continue;
    if (auto st = split_range(split); !st) return st.error();
  }
  if (lost.empty()) {
    if (auto st = upsert_objects(records); !st) return st.error();
    if (auto st = mark_ranges(marks); !st) return st.error();
  } else {
    // Outcomes inside a lost range's bounds are the new owner's to record, not this worker's.
    auto in_lost = [&](const std::string& key) {
      return std::any_of(claims.begin(), claims.end(), [&](const RangeClaim& c) {
        return is_lost(c.number) && key > c.start_after && (c.last.empty() || key <= c.last);
      });
    };
    std::vector<ObjectRecord> kept;
    for (const auto& r : records) {
      if (!in_lost(r.legacy_key)) kept.push_back(r);
    }
    std::vector<RangeMark> kept_marks;
    for (const auto& m : marks) {
      if (!is_lost(m.number)) kept_marks.push_back(m);
    }
    if (auto st = upsert_objects(kept); !st) return st.error();
    if (auto st = mark_ranges(kept_marks); !st) return st.error();
  }
  if (auto st = end_completed_claims(marks, lost); !st) return st.error();
  if (std::any_of(marks.begin(), marks.end(), [](const RangeMark& m) { return m.complete; })) {
    // The whole listing is done when its last range is, whoever worked the others. The job's
    // row first: two workers completing the last two ranges at once would each see the other's
    // as not complete (and the next statement then sees the other's commit).
    auto lock =
        db_.exec(fmt::format("SELECT 1 FROM {}.jobs WHERE job_id = $1 FOR UPDATE", quoted_schema_),
                 {job_id_});
    if (!lock) return lock.error();
    if (auto st = complete_listing_if_done(); !st) return st.error();
  }
  if (auto st = tx->commit(); !st) return st.error();
  return lost;
}

// A range recorded complete ends its claim in the log ("done"), as a completed task does.
Status StateStore::end_completed_claims(const std::vector<RangeMark>& marks,
                                        const std::vector<int>& lost) {
  std::vector<std::int64_t> done;
  for (const auto& m : marks) {
    if (m.complete && std::find(lost.begin(), lost.end(), m.number) == lost.end()) {
      done.push_back(m.number);
    }
  }
  if (done.empty()) return Ok{};
  auto r = db_.exec(fmt::format("UPDATE {0}.claims AS c SET ended_at = clock_timestamp(), "
                                "end_reason = 'done' FROM {0}.ranges AS r "
                                "WHERE c.job_id = $1 AND c.kind = 'keys' AND c.ended_at IS NULL "
                                "AND r.job_id = $1 AND r.range_no = c.number AND "
                                "c.epoch = r.epoch AND r.range_no = ANY($2::int[])",
                                quoted_schema_),
                    {job_id_, pg::int_array_literal(done)});
  if (!r) return r.error();
  return Ok{};
}

// Locks the claimed ranges' rows (in range_no order, as the heartbeat's renewal does) and
// returns those whose epoch is no longer the one claimed; notes the commit in the claim log
// for the others. A worker taking a range over waits for this transaction, so "its last
// commit" in the log always comes before the next claim.
Result<std::vector<int>> StateStore::fence_ranges(const std::vector<RangeClaim>& claims,
                                                  const std::vector<RangeSplit>& splits) {
  std::vector<std::int64_t> numbers;
  for (const auto& c : claims) numbers.push_back(c.number);
  auto r = db_.exec(fmt::format("SELECT range_no, epoch FROM {}.ranges WHERE job_id = $1 AND "
                                "range_no = ANY($2::int[]) ORDER BY range_no FOR UPDATE",
                                quoted_schema_),
                    {job_id_, pg::int_array_literal(numbers)});
  if (!r) return r.error();
  std::vector<int> lost;
  std::vector<std::int64_t> held_numbers, held_epochs;
  auto row_epoch = [&](int number) -> std::optional<std::int64_t> {
    for (int i = 0; i < r->size(); ++i) {
      if (r->int64(i, 0) == number) return r->int64(i, 1);
    }
    return std::nullopt;
  };
  for (const auto& c : claims) {
    const auto epoch = row_epoch(c.number);
    bool held = epoch == c.epoch;
    if (!epoch) {
      // A range a split of this batch creates has no row yet: held when its donor is.
      for (const auto& split : splits) {
        if (split.new_number == c.number && !split.released && row_epoch(split.number) == c.epoch) {
          held = true;
        }
      }
    }
    if (held) {
      held_numbers.push_back(c.number);
      held_epochs.push_back(c.epoch);
    } else {
      lost.push_back(c.number);
    }
  }
  if (!held_numbers.empty()) {
    auto logged = db_.exec(
        fmt::format("UPDATE {}.claims AS c SET last_commit_at = clock_timestamp() "
                    "FROM unnest($2::int[], $3::bigint[]) AS h(n, e) "
                    "WHERE c.job_id = $1 AND c.kind = 'keys' AND "
                    "c.number = h.n AND c.epoch = h.e",
                    quoted_schema_),
        {job_id_, pg::int_array_literal(held_numbers), pg::int_array_literal(held_epochs)});
    if (!logged) return logged.error();
  }
  return lost;
}

Status StateStore::upsert_objects(const std::vector<ObjectRecord>& records) {
  if (records.empty()) return Ok{};
  std::vector<std::string> keys, states, etags, prod_etags, details, wrote;
  std::vector<std::int64_t> sizes;
  for (const auto& rec : records) {
    wrote.emplace_back(rec.rehome_wrote ? "t" : "f");
    keys.push_back(rec.legacy_key);
    states.emplace_back(to_string(rec.state));
    etags.push_back(rec.etag);
    sizes.push_back(rec.size);
    prod_etags.push_back(rec.production_etag);
    details.push_back(rec.detail);
  }
  auto r = db_.exec(fmt::format(R"(
      INSERT INTO {}.objects AS o (job_id, legacy_key, state, etag, size, production_etag, detail,
                                   copied_from, copied_etag)
      SELECT $1, k, st, e, sz, pe, d, CASE WHEN w THEN e ELSE '' END,
             CASE WHEN w THEN pe ELSE '' END
      FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                  $8::bool[]) AS u(k, st, e, sz, pe, d, w)
      ON CONFLICT (job_id, legacy_key) DO UPDATE
      SET state = EXCLUDED.state, etag = EXCLUDED.etag, size = EXCLUDED.size,
          production_etag = EXCLUDED.production_etag, detail = EXCLUDED.detail,
          copied_from = CASE WHEN EXCLUDED.copied_etag <> '' THEN EXCLUDED.copied_from
                             ELSE o.copied_from END,
          copied_etag = CASE WHEN EXCLUDED.copied_etag <> '' THEN EXCLUDED.copied_etag
                             ELSE o.copied_etag END,
          updated_at = now())",
                                quoted_schema_),
                    {job_id_, pg::text_array_literal(keys), pg::text_array_literal(states),
                     pg::text_array_literal(etags), pg::int_array_literal(sizes),
                     pg::text_array_literal(prod_etags), pg::text_array_literal(details),
                     pg::text_array_literal(wrote)});
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
  // All or nothing, and only into an empty plan: workers that start together each plan, and
  // the first to save wins (the lock serialises them); a plan half saved by a killed run must
  // not be completed by a different plan.
  auto tx = pg::Transaction::begin(db_);
  if (!tx) return tx.error();
  if (auto lock = db_.exec("SELECT pg_advisory_xact_lock(hashtext($1))", {job_ + " plan"}); !lock) {
    return lock.error();
  }
  auto r = db_.exec(fmt::format(R"(
      INSERT INTO {0}.ranges (job_id, range_no, start_after, last_key)
      SELECT $1, n, s, l FROM unnest($2::int[], $3::text[], $4::text[]) AS p(n, s, l)
      WHERE NOT EXISTS (SELECT 1 FROM {0}.ranges WHERE job_id = $1))",
                                quoted_schema_),
                    {job_id_, pg::int_array_literal(numbers), pg::text_array_literal(starts),
                     pg::text_array_literal(lasts)});
  if (!r) return r.error();
  if (auto st = tx->commit(); !st) return st.error();
  return ranges();
}

Status StateStore::split_range(const RangeSplit& split) {
  // With a claim, the donor must still be this worker's (same epoch). The new range is the
  // donor's worker's under the donor's epoch (and logged as a claim of its own), or released
  // for any worker to claim.
  auto r = db_.exec(
      fmt::format(R"(
      WITH donor AS (
        UPDATE {0}.ranges SET last_key = $4, split_wanted_at = NULL, updated_at = now()
        WHERE job_id = $1 AND range_no = $2 AND last_key = $3 AND completed_at IS NULL
          AND ($6::bigint = 0 OR epoch = $6::bigint)
        RETURNING job_id, owner, epoch, lease_until),
      born AS (
        INSERT INTO {0}.ranges (job_id, range_no, start_after, last_key, owner, epoch, lease_until)
        SELECT job_id, $5, $4, $3,
               CASE WHEN $7::bool THEN NULL ELSE owner END,
               CASE WHEN $7::bool THEN 0 ELSE epoch END,
               CASE WHEN $7::bool THEN NULL ELSE lease_until END
        FROM donor
        RETURNING owner, epoch)
      INSERT INTO {0}.claims (job_id, kind, number, epoch, worker_id, start_after, last_key)
      SELECT $1, 'keys', $5, epoch, owner, $4, $3 FROM born WHERE owner IS NOT NULL
      ON CONFLICT DO NOTHING)",
                  quoted_schema_),
      {job_id_, std::to_string(split.number), split.last, split.point,
       std::to_string(split.new_number), std::to_string(split.epoch), split.released ? "t" : "f"});
  if (!r) return r.error();
  return Ok{};
}

Status StateStore::settle_settings(const std::string& given, bool replace,
                                   std::chrono::seconds lease) {
  auto tx = pg::Transaction::begin(db_);
  if (!tx) return tx.error();
  auto r = db_.exec(
      fmt::format("SELECT coalesce(settings, '') FROM {}.jobs WHERE job_id = $1 FOR UPDATE",
                  quoted_schema_),
      {job_id_});
  if (!r) return r.error();
  const std::string recorded = r->size() == 1 ? std::string(r->text(0, 0)) : "";
  // Until rehome has written a copy, nothing was made with the recorded settings: a run that
  // stopped at its first copy (an ACL the bucket refuses) may be started again otherwise.
  auto started =
      db_.exec(fmt::format("SELECT EXISTS (SELECT 1 FROM {}.objects WHERE job_id = $1 AND "
                           "copied_etag <> '')",
                           quoted_schema_),
               {job_id_});
  if (!started) return started.error();
  // Nor while another worker is alive: it may copy the other way any moment.
  auto alive = db_.exec(fmt::format("SELECT EXISTS (SELECT 1 FROM {}.workers WHERE job_id = $1 "
                                    "AND stopped_at IS NULL AND heartbeat_at >= now() - "
                                    "$2::interval)",
                                    quoted_schema_),
                        {job_id_, fmt::format("{} seconds", lease.count())});
  if (!alive) return alive.error();
  const bool others = alive->text(0, 0) == "t";
  if (replace && others && settings_difference(recorded, given) != "") {
    return Error::invalid_input(
        "--change-settings while other workers run this job: stop every worker first (rehome "
        "status lists them), then run once with the new settings and --change-settings");
  }
  if (!recorded.empty() && (!replace || others) && (started->text(0, 0) == "t" || others)) {
    if (auto diff = settings_difference(recorded, given); !diff.empty()) {
      return Error::invalid_input(fmt::format(
          "this job was started with other settings than these, and every worker must copy the "
          "same way: {}. Start this worker with the recorded settings; to change them for the "
          "rest of the job, stop every worker and run once with --change-settings (copies made "
          "so far keep the old ones)",
          diff));
    }
  }
  if (recorded != given) {
    auto w = db_.exec(fmt::format("UPDATE {}.jobs SET settings = $2, updated_at = now() "
                                  "WHERE job_id = $1",
                                  quoted_schema_),
                      {job_id_, given});
    if (!w) return w.error();
  }
  return tx->commit();
}

Result<ProblemCounts> StateStore::problem_counts() {
  auto r = db_.exec(fmt::format("SELECT count(*) FILTER (WHERE state = 'conflict'), "
                                "count(*) FILTER (WHERE state = 'failed') FROM {}.objects "
                                "WHERE job_id = $1 AND state IN ('conflict', 'failed')",
                                quoted_schema_),
                    {job_id_});
  if (!r) return r.error();
  return ProblemCounts{static_cast<std::uint64_t>(r->int64(0, 0)),
                       static_cast<std::uint64_t>(r->int64(0, 1))};
}

Status StateStore::record_failed_row(std::int64_t row_id, const std::string& reason) {
  auto r =
      db_.exec(fmt::format("INSERT INTO {}.failed_rows (job_id, row_id, reason) "
                           "VALUES ($1, $2::bigint, $3) ON CONFLICT (job_id, row_id) DO UPDATE "
                           "SET reason = EXCLUDED.reason, failed_at = now()",
                           quoted_schema_),
               {job_id_, std::to_string(row_id), reason});
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

Result<std::optional<RecordedCopy>> StateStore::recorded_copy(const std::string& legacy_key) {
  // The last copy rehome wrote outlives later outcomes (upsert_objects keeps copied_from and
  // copied_etag unless rehome writes again), so a repair that failed once can still be made
  // by the next run.
  auto r = db_.exec(fmt::format("SELECT copied_from, copied_etag FROM {}.objects "
                                "WHERE job_id = $1 AND legacy_key = $2",
                                quoted_schema_),
                    {job_id_, legacy_key});
  if (!r) return r.error();
  if (r->size() == 0 || r->text(0, 1).empty()) return std::optional<RecordedCopy>{};
  return std::optional<RecordedCopy>{
      RecordedCopy{std::string(r->text(0, 0)), std::string(r->text(0, 1))}};
}

Result<std::int64_t> StateStore::upload_opening(const std::string& endpoint,
                                                const std::string& bucket, const std::string& key,
                                                std::int64_t worker) {
  auto r = db_.exec(fmt::format("INSERT INTO {}.uploads (job_id, endpoint, bucket, key, worker_id) "
                                "VALUES ($1, $2, $3, $4, NULLIF($5::bigint, 0)) RETURNING entry",
                                quoted_schema_),
                    {job_id_, endpoint, bucket, key, std::to_string(worker)});
  if (!r) return r.error();
  return r->int64(0, 0);
}

Status StateStore::upload_opened(std::int64_t entry, const std::string& upload_id) {
  auto r =
      db_.exec(fmt::format("UPDATE {}.uploads SET upload_id = $2 WHERE entry = $1", quoted_schema_),
               {std::to_string(entry), upload_id});
  if (!r) return r.error();
  return Ok{};
}

Status StateStore::upload_closed(std::int64_t entry) {
  auto r = db_.exec(fmt::format("DELETE FROM {}.uploads WHERE entry = $1", quoted_schema_),
                    {std::to_string(entry)});
  if (!r) return r.error();
  return Ok{};
}

Result<std::vector<PendingUpload>> StateStore::pending_uploads(std::chrono::seconds lease) {
  auto r = db_.exec(
      fmt::format("SELECT entry, endpoint, bucket, key, coalesce(upload_id, ''), "
                  "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                  "FROM {0}.uploads AS u WHERE job_id = $1 AND (u.worker_id IS NULL OR "
                  "NOT EXISTS (SELECT 1 FROM {0}.workers AS w WHERE w.worker_id = u.worker_id "
                  "AND w.stopped_at IS NULL AND w.heartbeat_at >= now() - $2::interval)) "
                  "ORDER BY entry",
                  quoted_schema_),
      {job_id_, fmt::format("{} seconds", lease.count())});
  if (!r) return r.error();
  std::vector<PendingUpload> out;
  for (int i = 0; i < r->size(); ++i) {
    out.push_back({r->int64(i, 0), std::string(r->text(i, 1)), std::string(r->text(i, 2)),
                   std::string(r->text(i, 3)), std::string(r->text(i, 4)),
                   std::string(r->text(i, 5))});
  }
  return out;
}

namespace {

// Rows of (legacy_key, state, etag, size, production_etag, detail).
std::vector<ObjectRecord> parse_records(const pg::Rows& r) {
  std::vector<ObjectRecord> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) {
    ObjectRecord rec;
    rec.legacy_key = std::string(r.text(i, 0));
    rec.state = parse_object_state(r.text(i, 1)).value_or(ObjectState::kFailed);
    rec.etag = std::string(r.text(i, 2));
    rec.size = r.int64(i, 3);
    rec.production_etag = std::string(r.text(i, 4));
    rec.detail = std::string(r.text(i, 5));
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace

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
  return parse_records(*r);
}

Result<std::vector<ObjectRecord>> StateStore::copied_before(const std::string& before,
                                                            const std::string& after,
                                                            const std::string& last, int limit) {
  auto r = db_.exec(fmt::format("SELECT legacy_key, state, etag, size, production_etag, detail "
                                "FROM {}.objects WHERE job_id = $1 AND state = 'copied' AND "
                                "updated_at < $2::timestamptz AND legacy_key > $3 AND "
                                "($4 = '' OR legacy_key <= $4) ORDER BY legacy_key LIMIT $5",
                                quoted_schema_),
                    {job_id_, before, after, last, std::to_string(limit)});
  if (!r) return r.error();
  return parse_records(*r);
}

}  // namespace rehome::engine
