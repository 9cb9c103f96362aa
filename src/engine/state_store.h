// rehome's own bookkeeping, in a schema of its own in the same PostgreSQL (documented in
// docs/DESIGN.md). It is what makes a rerun resume instead of starting over:
//   jobs      one row per job: how far the legacy listing has been recorded
//   objects   one row per legacy object whose fate is known: copied (production holds an
//             identical copy), conflict, missing (a row names it, the bucket does not), failed
//   rewrites  every row rehome rewrote, when, from what to what (cleanup's grace period)
//   batches   one row per committed rewrite transaction (to settle an in-doubt COMMIT)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pg/connection.h"
#include "util/result.h"

namespace rehome::engine {

enum class ObjectState { kCopied, kConflict, kMissing, kFailed };
const char* to_string(ObjectState state) noexcept;

/// The recorded fate of one legacy object.
struct ObjectRecord {
  std::string legacy_key;
  ObjectState state = ObjectState::kCopied;
  std::string etag;             ///< Legacy ETag (empty when missing).
  std::int64_t size = 0;
  std::string production_etag;  ///< What production holds (equal to etag unless multipart or conflict).
  std::string detail;           ///< Why it failed or conflicts, for the report.
};

struct JobProgress {
  std::string listing_watermark;  ///< Every legacy key <= this has an ObjectRecord.
  bool listing_complete = false;
};

class StateStore {
 public:
  /// `schema` is the unquoted schema name; `job` is engine::job_name(config).
  StateStore(pg::Connection& db, std::string schema, std::string job);

  /// Creates the schema and tables if missing (idempotent, safe when several processes race)
  /// and registers the job.
  Status ensure_schema();
  /// True when the schema's tables exist (read-only commands do not create them).
  Result<bool> exists();

  /// Takes a session-level advisory lock so that two runs of the same job do not interleave.
  /// Fails with kConflict when another session holds it.
  Status lock_job();

  Result<JobProgress> progress();

  /// Records outcomes and moves the listing watermark in one transaction. Replaying it after
  /// an in-doubt commit is harmless: it is an upsert of the same values.
  Status record(const std::vector<ObjectRecord>& records,
                const std::optional<std::string>& new_watermark, bool listing_complete = false);

  /// Forgets that the listing finished, so the next run lists the legacy bucket again.
  Status reset_listing();

  /// Records whose state is one of `states`, in key order after `after`, at most `limit`.
  Result<std::vector<ObjectRecord>> records_in_state(const std::vector<ObjectState>& states,
                                                     const std::string& after, int limit);

  /// The quoted schema name, for SQL built by other parts of the engine.
  const std::string& schema() const { return quoted_schema_; }
  const std::string& job() const { return job_; }
  pg::Connection& db() { return db_; }

 private:
  pg::Connection& db_;
  std::string quoted_schema_;
  std::string job_;
};

/// Parses "copied", "conflict"... Returns nullopt for anything else.
std::optional<ObjectState> parse_object_state(std::string_view text);

}  // namespace rehome::engine
