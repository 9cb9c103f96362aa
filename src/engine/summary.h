// What a run did, counted as it goes: printed at the end, written as JSON with --report,
// and the source of the live progress line.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rehome::engine {

/// Which command a summary is of.
enum class Command { kRun, kPlan, kVerify, kCleanup };
/// How a command ended (kRunning while it runs): decides the exit status (commands.h).
enum class Outcome { kRunning, kComplete, kIncomplete, kInterrupted, kFailed };

/// "run", "plan"...; "complete", "incomplete"... as printed and in the JSON report.
const char* to_string(Command command) noexcept;
const char* to_string(Outcome outcome) noexcept;
std::ostream& operator<<(std::ostream& out, Outcome outcome);

struct Summary {
  Command command = Command::kRun;
  Outcome outcome = Outcome::kRunning;
  std::string error;  ///< The fatal error, when outcome is kFailed.
  /// The failure was the settings (they differ from the job's): exit status 2, not 1.
  bool refused = false;

  // This process as a worker of the job (claim_store.h).
  std::int64_t worker_id = 0;
  int round = 0;
  /// Ranges (of keys, or of rows) another worker took over from this one while it was frozen
  /// or cut off: nothing more of theirs was recorded here.
  std::uint64_t ranges_lost = 0;
  /// What the whole job has left when its round is done, whoever found it: objects in conflict
  /// and failed, as recorded (this worker's own counts are above and below).
  std::uint64_t job_objects_conflict = 0;
  std::uint64_t job_objects_failed = 0;

  // Objects (legacy prefix).
  std::uint64_t objects_listed = 0;
  std::uint64_t objects_copied = 0;
  std::uint64_t objects_already_copied = 0;
  std::uint64_t objects_conflict = 0;
  std::uint64_t objects_missing = 0;  ///< Referenced by a row but absent, or vanished.
  std::uint64_t objects_failed = 0;
  /// Of objects_copied: rehome's own copy replaced because the legacy object was re-uploaded
  /// in place after it was copied.
  std::uint64_t objects_refreshed = 0;
  /// verify: legacy objects re-uploaded in place since rehome copied them, whose twin is still
  /// rehome's older copy (`run --relist` refreshes it).
  std::uint64_t objects_stale = 0;
  /// Copies recorded by earlier runs, checked against production's listing before the rows
  /// phase, and those found missing or changed there (settled again).
  std::uint64_t records_rechecked = 0;
  std::uint64_t records_resettled = 0;
  /// Multipart uploads earlier runs left open: aborted now, and those never named by S3.
  std::uint64_t uploads_aborted = 0;
  std::uint64_t uploads_unnamed = 0;
  std::uint64_t uploads_failed = 0;  ///< Left open: could not be aborted now (exit 3).
  std::uint64_t ranges_split = 0;    ///< Key ranges split for lanes that ran out (range_split.h).
  std::int64_t bytes_copied = 0;

  // Rows.
  std::uint64_t rows_rewritten = 0;
  std::uint64_t rows_pending = 0;     ///< Still under the legacy prefix after the run.
  std::uint64_t rows_conflict = 0;    ///< Pending because production holds other content.
  std::uint64_t rows_broken = 0;      ///< Pending because their legacy object does not exist.
  std::uint64_t rows_failed = 0;      ///< Pending because their object could not be copied yet.
  std::uint64_t rows_production = 0;  ///< Already under the production prefix.
  std::uint64_t rows_null = 0;
  std::uint64_t rows_empty = 0;
  std::uint64_t rows_other = 0;
  std::uint64_t rows_total_legacy = 0;  ///< Legacy rows when the run began (progress total).

  // plan / verify / cleanup.
  std::uint64_t objects_to_copy = 0;
  std::uint64_t objects_unreferenced = 0;  ///< Legacy objects no row names.
  std::uint64_t legacy_objects_present = 0;
  std::uint64_t rows_dangling = 0;  ///< Rows naming an object that does not exist.
  std::uint64_t objects_deleted = 0;
  std::uint64_t objects_kept = 0;  ///< Cleanup candidates it was not safe to delete.

  // S3 requests.
  std::uint64_t requests = 0;
  std::uint64_t connections = 0;  ///< Opened (TCP, and TLS for HTTPS, handshakes): keep-alive.
  std::uint64_t retries = 0;
  std::uint64_t throttled = 0;
  /// The most requests in flight at once at any one endpoint (the adaptive cap at work).
  std::uint64_t peak_in_flight = 0;

  double seconds = 0;
  double objects_seconds = 0;  ///< `run`'s phase 1 (listing, copying, recording).
  double rows_seconds = 0;     ///< `run`'s phase 2 (rewriting rows).
  /// A few examples of what needs a human (conflicts, broken references, failures).
  std::vector<std::string> problems;

  /// Adds a problem line, keeping at most a few dozen.
  void note_problem(std::string line);
  nlohmann::json to_json() const;
};

}  // namespace rehome::engine
