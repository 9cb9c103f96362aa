// `rehome status`: a read-only view of a job, from any machine that reaches its database: the
// round and its stage, the key ranges and the round's primary-key ranges (done, claimed,
// waiting), the workers alive (host, pid, start, last heartbeat, what they did and how fast),
// what was copied and rewritten, the problems recorded, an ETA, and stalls (a claim that has not
// moved for minutes). It reads rehome's schema and counts the table's legacy rows (one scan);
// it writes nothing and touches no bucket.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/claim_store.h"
#include "engine/config.h"
#include "util/result.h"

namespace rehome::engine {

struct WorkerStatus {
  std::int64_t id = 0;
  std::string host;
  int pid = 0;
  std::string started_at;
  std::string heartbeat_at;
  double seconds_since_heartbeat = 0;
  std::string stage;
  std::uint64_t objects = 0;
  std::uint64_t rows = 0;
  std::uint64_t requests = 0;
  std::uint64_t throttled = 0;
  double rate_limit = 0;          ///< Its rate control's limit, requests/s (0: none yet).
  double objects_per_second = 0;  ///< Since it started.
  double rows_per_second = 0;
};

struct JobStatus {
  std::string job;
  int round = 0;
  bool round_complete = false;
  std::string stage;  ///< "not started", "objects", "check", "rows", "complete".
  bool listing_complete = false;
  PartCounts key_ranges;
  PartCounts row_ranges;
  std::optional<std::int64_t> rows_cursor, rows_bound;
  std::vector<WorkerStatus> workers;  ///< Alive: heard from within a lease.
  std::uint64_t workers_gone = 0;     ///< Registered but stopped or silent.
  std::uint64_t objects_copied = 0, objects_conflict = 0, objects_missing = 0, objects_failed = 0;
  std::uint64_t rows_rewritten = 0;
  std::uint64_t rows_legacy = 0;  ///< Rows still under the legacy prefix now.
  std::uint64_t rows_failed = 0;  ///< Rows the last round could not rewrite.
  std::optional<double> eta_seconds;
  /// Claims that have not moved for a while: "key range 12 (worker 3 on host a, pid 7): no
  /// progress for 4m10s".
  std::vector<std::string> stalls;
};

/// How long a claim may go without progress before status calls it stalled.
inline constexpr int kStallSeconds = 180;

/// Reads the job's status. Fails (kInvalidInput) when the job has no bookkeeping yet.
Result<JobStatus> read_status(const JobConfig& config);

nlohmann::json to_json(const JobStatus& status);
/// Pure: `rehome status`'s exit status: 0 complete with nothing left, 3 complete with problems
/// left (conflicts, failed objects or rows, legacy rows), 5 under way or stopped before the end.
int status_exit(const JobStatus& status);
/// The text form, one line per fact.
std::vector<std::string> describe(const JobStatus& status);

}  // namespace rehome::engine
