// rehome's own bookkeeping, in a schema of its own in the same PostgreSQL (documented in
// docs/DESIGN.md). It is what makes a rerun resume instead of starting over:
//   jobs      one row per job: whether the legacy listing has been recorded to its end
//   ranges    the job's key ranges of the legacy listing, each with its own watermark
//   objects   one row per legacy object whose fate is known: copied (production holds an
//             identical copy), conflict, missing (a row names it, the bucket does not), failed;
//             and the last copy rehome itself wrote (what it was made from, its ETag), which
//             outlives later outcomes so that a re-uploaded object's copy can still be repaired
//   rewrites  every row rehome rewrote, when, from what to what (cleanup's grace period)
//   batches   one row per committed rewrite transaction (to settle an in-doubt COMMIT)
//   failed_rows  rows the last rows phase could not rewrite, with the reason
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/key_ranges.h"
#include "engine/upload_ledger.h"
#include "pg/connection.h"
#include "util/result.h"

namespace rehome::engine {

enum class ObjectState { kCopied, kConflict, kMissing, kFailed };
const char* to_string(ObjectState state) noexcept;

/// The recorded fate of one legacy object.
struct ObjectRecord {
  std::string legacy_key;
  ObjectState state = ObjectState::kCopied;
  std::string etag;  ///< Legacy ETag (empty when missing).
  std::int64_t size = 0;
  std::string
      production_etag;  ///< What production holds (equal to etag unless multipart or conflict).
  std::string detail;   ///< Why it failed or conflicts, for the report.
  /// rehome itself wrote the twin (state copied): it becomes rehome's own copy, the one
  /// production object rehome may later replace (recorded_copy). A twin only judged identical
  /// (already there) is never rehome's.
  bool rehome_wrote = false;
};

/// The last twin rehome itself wrote (and verified) for a legacy object: the legacy ETag it was
/// made from, and the production object's ETag. A twin that still has that ETag is rehome's
/// own copy, the one production object rehome may replace (with If-Match on it) when the
/// legacy object was re-uploaded in place since.
struct RecordedCopy {
  std::string from_etag;
  std::string etag;
};

struct JobProgress {
  /// Where the listing starts: "" for every job this version started; a job begun by a
  /// version with one watermark per job resumes after it.
  std::string listing_watermark;
  bool listing_complete = false;
};

/// One key range of the legacy listing and how far its outcomes are recorded.
struct RangeProgress {
  int number = 0;
  KeyRange range;
  std::string watermark;  ///< Every key in (range.start_after, watermark] has a record.
  bool complete = false;  ///< Every key of the range has a record.
  /// The epoch of this worker's claim on the range (claim_store.h); 0 when not claimed.
  std::int64_t epoch = 0;

  /// Where listing the range (again) starts.
  const std::string& resume_after() const {
    return watermark.empty() ? range.start_after : watermark;
  }
};

/// A range's progress, recorded in the same transaction as the outcomes it covers.
struct RangeMark {
  int number = 0;
  std::string watermark;  ///< "" = unchanged.
  bool complete = false;
};

/// A range split, recorded with the outcomes (engine/range_split.h): range `number`, bounded
/// by `last`, ends at `point`, and range `new_number` covers (point, last]. The new range is
/// the donor's worker's under the same epoch, or, `released`, left for any worker to claim
/// (a split another worker asked for).
struct RangeSplit {
  int number = 0;
  std::string last;
  std::string point;
  int new_number = 0;
  std::int64_t epoch = 0;  ///< The donor's claim; 0 = unfenced (no claims).
  bool released = false;
};

/// A key range as the worker that records for it holds it: the claim's epoch, and the bounds
/// its outcomes fall in. A batch commits nothing for a range whose epoch has moved on.
struct RangeClaim {
  int number = 0;
  std::int64_t epoch = 0;
  std::string start_after;
  std::string last;
};

/// Who may hold the job's lock beside whom: workers share it, cleanup holds it alone.
enum class JobLock { kShared, kExclusive };

/// Objects whose recorded fate needs a human, for the job's exit status.
struct ProblemCounts {
  std::uint64_t conflict = 0;
  std::uint64_t failed = 0;
};

class StateStore {
 public:
  /// `schema` is the unquoted schema name; `job` is engine::job_name(config).
  StateStore(pg::Connection& db, std::string schema, std::string job);

  /// Creates the schema and tables if missing (idempotent, safe when several processes race)
  /// and registers the job. Refuses a schema written by an earlier, incompatible layout.
  Status ensure_schema();
  /// True when the schema's tables exist (read-only commands do not create them).
  Result<bool> exists();
  /// Looks the job up (ensure_schema() does it too): false when no run has registered it.
  /// Every per-job statement needs it first.
  Result<bool> find_job();

  /// Takes the job's session-level advisory lock: shared by the workers of `run`, alone for
  /// `cleanup`. Fails with kConflict (naming a session that holds it) when the other mode is
  /// held. Every later reconnect of this store's connection takes the lock again before any
  /// other statement, and fails (kTransient, so retry_db waits) while it cannot.
  Status lock_job(JobLock mode);

  /// Records `given` (engine::result_settings) with the job the first time; once rehome has
  /// written a copy for the job, or while another worker is alive (heard from within `lease`),
  /// refuses (kInvalidInput, naming each difference) settings that
  /// differ, unless `replace`.
  Status settle_settings(const std::string& given, bool replace, std::chrono::seconds lease);

  Result<JobProgress> progress();

  /// Records range splits, then outcomes, then the ranges' watermarks, in one transaction;
  /// when the last range is complete, the whole listing is. Replaying it after an in-doubt
  /// commit is harmless: a split applies only while the range still ends where it did,
  /// outcomes are an upsert of the same values, and watermarks only move forward.
  ///
  /// With `claims` (the worker's key ranges this batch touches), the ranges' rows are locked
  /// first and a range whose epoch moved on (another worker took it over) gets nothing: not its
  /// splits, marks, or the outcomes inside its bounds. Returns those ranges' numbers.
  Result<std::vector<int>> record(const std::vector<ObjectRecord>& records,
                                  const std::vector<RangeMark>& marks,
                                  const std::vector<RangeSplit>& splits = {},
                                  const std::vector<RangeClaim>& claims = {});

  /// The job's key ranges in key order (empty until a plan is saved).
  Result<std::vector<RangeProgress>> ranges();
  /// Saves a plan of key ranges unless the job already has one, and returns the job's ranges:
  /// a plan is never mixed with another.
  Result<std::vector<RangeProgress>> save_ranges(const std::vector<KeyRange>& plan);

  /// Splits range `number`, bounded by `last`, at `point`: the range then ends at `point`, and
  /// a new range `new_number` covers (point, last]. One statement, so a crash leaves both or
  /// neither; replaying it after an in-doubt commit changes nothing (it applies only while the
  /// range still ends at `last`).
  Status split_range(const RangeSplit& split);

  /// The job's objects recorded as conflict or failed.
  Result<ProblemCounts> problem_counts();

  /// Records a row whose rewrite the database refuses (a constraint, a trigger, a value too
  /// long), with the server's reason; a new round clears them (ClaimStore::join_round), so the
  /// table holds what the last round could not rewrite.
  Status record_failed_row(std::int64_t row_id, const std::string& reason);

  /// Forgets the listing's progress and its ranges, so the next run lists the legacy bucket
  /// again (and plans anew).
  Status reset_listing();

  /// Records whose state is one of `states`, in key order after `after`, at most `limit`.
  Result<std::vector<ObjectRecord>> records_in_state(const std::vector<ObjectState>& states,
                                                     const std::string& after, int limit);

  /// Records in state copied last written before `before` (a timestamp: an earlier run's), in
  /// key order within (after, last] ("" = unbounded), at most `limit`.
  Result<std::vector<ObjectRecord>> copied_before(const std::string& before,
                                                  const std::string& after, const std::string& last,
                                                  int limit);

  /// The last copy rehome itself wrote for `legacy_key`, kept even when a later outcome (a
  /// failed repair, a conflict) replaced its record; nullopt when rehome never wrote one.
  Result<std::optional<RecordedCopy>> recorded_copy(const std::string& legacy_key);

  /// The multipart uploads ledger (upload_ledger.h): an entry before CreateMultipartUpload,
  /// its UploadId once named, its removal once completed or aborted.
  Result<std::int64_t> upload_opening(const std::string& endpoint, const std::string& bucket,
                                      const std::string& key, std::int64_t worker = 0);
  Status upload_opened(std::int64_t entry, const std::string& upload_id);
  Status upload_closed(std::int64_t entry);
  /// Uploads whose worker is gone (stopped, or silent for longer than `lease`): a live
  /// worker's uploads are its own to finish.
  Result<std::vector<PendingUpload>> pending_uploads(
      std::chrono::seconds lease = std::chrono::seconds(0));

  /// The quoted schema name, for SQL built by other parts of the engine.
  const std::string& schema() const { return quoted_schema_; }
  const std::string& job() const { return job_; }
  /// The job's integer id, as a statement parameter ("" before ensure_schema()/find_job()).
  const std::string& job_id() const { return job_id_; }
  pg::Connection& db() { return db_; }

 private:
  Status refuse_older_layout();
  Status add_missing_columns();
  Status upsert_objects(const std::vector<ObjectRecord>& records);
  Status mark_ranges(const std::vector<RangeMark>& marks);
  Status complete_listing_if_done();
  Status end_completed_claims(const std::vector<RangeMark>& marks, const std::vector<int>& lost);
  Result<std::vector<int>> fence_ranges(const std::vector<RangeClaim>& claims,
                                        const std::vector<RangeSplit>& splits);

  pg::Connection& db_;
  std::string quoted_schema_;
  std::string job_;
  std::string job_id_;
};

/// Parses "copied", "conflict"... Returns nullopt for anything else.
std::optional<ObjectState> parse_object_state(std::string_view text);

}  // namespace rehome::engine
