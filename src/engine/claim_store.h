// Claims: how several rehome processes ("workers", on any machines) share one job through
// PostgreSQL, with no coordinator and no shard index to get wrong.
//
// A worker works only on what it has claimed: a key range of the legacy listing (`ranges`),
// or a task of the current round (`tasks`: re-settling earlier problems, checking earlier
// records, a primary-key range of the table). A claim is a lease (`lease_until`, on the
// server's clock, so machines' clocks never matter) that a heartbeat renews, and an epoch
// drawn from one sequence. Every commit a worker makes for a claim first locks the claimed row
// and checks that the epoch is still its own: a worker that was frozen, partitioned or too
// slow, whose lease ran out and whose range another worker took over (with a new epoch),
// commits nothing more for it. Requests it had already sent to S3 may still complete; they
// are conditional copies of the legacy object (If-None-Match, or If-Match on rehome's own
// copy), so they write what the new owner would write or nothing, and only the owner's
// records decide what a row is rewritten to (docs/DESIGN.md, "Several workers").
//
// A session advisory lock could not do this: a frozen process keeps its session, and its lock,
// for as long as TCP keeps the connection open.
//
// Every claim is logged in `claims` (owner, epoch, bounds, when claimed, when it last
// committed, when and why it ended), which lets a test prove that each range had one live
// owner at a time and that no fenced epoch committed.
//
// A job's work comes in rounds: one `rehome run` was one round; now every worker that starts
// while a round is under way joins it, and one that starts after a round completed begins the
// next (which is what a rerun does). The listing's ranges belong to the job, not the round:
// once listed to the end, later rounds only recheck.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/state_store.h"
#include "pg/connection.h"
#include "util/result.h"

namespace rehome::engine {

/// What a claim covers.
enum class ClaimKind {
  kKeys,     ///< A key range of the legacy listing (rehome.ranges).
  kRecheck,  ///< The round's re-settling of objects earlier runs left as conflict or failed.
  kCheck,    ///< The round's check of earlier runs' copied records against production.
  kRows,     ///< A primary-key range of the table, (lo, hi].
};
const char* to_string(ClaimKind kind) noexcept;

/// A claim held: the part of the job, and the epoch that fences its commits.
struct Claim {
  ClaimKind kind = ClaimKind::kKeys;
  int number = 0;
  std::int64_t epoch = 0;
  friend bool operator==(const Claim&, const Claim&) = default;
};

/// The round a worker works in.
struct Round {
  int number = 0;
  /// Server time, as text: when the oldest live worker started. Records made before it are
  /// earlier runs' (a killed worker's before any live one began, a finished round's), checked
  /// against production before rows move to them; the live workers' are this run's.
  std::string started_at;
  bool began = false;  ///< This worker began it (the others joined).
};

/// A primary-key range of the table claimed for rewriting.
struct RowTask {
  int number = 0;
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  std::int64_t epoch = 0;
};

/// Where a task stands, for a worker that waits for it.
struct TaskStand {
  bool complete = false;
  bool held = false;  ///< A live worker holds it (not expired, not released).
};

/// What the heartbeat learned: which of the claims it renewed are still this worker's, and which
/// key ranges other workers asked it to split.
struct Renewal {
  std::vector<Claim> held;
  std::vector<int> split_wanted;
};

/// Parts of a job by state: its key ranges, or the primary-key ranges of its round.
struct PartCounts {
  std::uint64_t done = 0;
  std::uint64_t claimed = 0;  ///< By a live worker (lease not run out, worker not stopped).
  std::uint64_t waiting = 0;  ///< Never claimed, released, or left by a worker that went.
};

struct JobRanges {
  PartCounts keys;
  PartCounts rows;  ///< Of the job's current round.
};

/// The other workers of a job, as a heartbeat finds them.
struct Peers {
  int alive = 0;  ///< Heard from within a lease.
  /// When every one of them is held to a rate limit (the server throttled them): this
  /// worker's share of their sum, requests/s, to start at instead of a burst; else 0.
  double share = 0;
};

/// A worker's counters, published with its heartbeat for `rehome status`.
struct WorkerStats {
  std::string stage = "starting";
  std::uint64_t objects = 0;
  std::uint64_t rows = 0;
  std::uint64_t requests = 0;
  std::uint64_t throttled = 0;
  double rate_limit =
      0;  ///< Set by the server's throttling (requests/s); 0: none, or --max-rps only.
};

class ClaimStore {
 public:
  /// On `state`'s connection (the job found). `lease`: how long a claim lives unrenewed.
  ClaimStore(StateStore& state, std::chrono::seconds lease) : state_(state), lease_(lease) {}

  /// Registers this process (`pid`, which must be this process: its start time and pid
  /// namespace are recorded with it) as a worker of the job; returns its id. Workers of this
  /// host whose process is gone (killed; the pid absent or reused, in the same pid namespace)
  /// are marked stopped first, so their claims can be taken at once instead of after their
  /// leases run out.
  Result<std::int64_t> register_worker(const std::string& host, int pid);
  /// Publishes `stats` as the worker's heartbeat; says how many others are alive and its
  /// share of their rate limits.
  Result<Peers> beat(std::int64_t worker, const WorkerStats& stats);
  /// Marks the worker stopped and releases every claim it holds (a clean exit).
  Status stop_worker(std::int64_t worker);

  /// Joins the round under way, or begins the next when none is (call after register_worker) (a new
  /// round forgets the rows the last one could not rewrite; with `relist`, it also forgets the
  /// listing's progress).
  Result<Round> join_round(bool relist);
  /// True when the round's every task is complete.
  Result<bool> round_complete(int round);
  /// The job's key ranges and its current round's primary-key ranges, by state (`rehome
  /// status`, the rehome_ranges metric). Reads two counts; writes nothing.
  Result<JobRanges> count_ranges();

  /// Claims a key range no live worker holds (never claimed, released, or expired), in key
  /// order. nullopt when none is waiting.
  Result<std::optional<RangeProgress>> claim_range(std::int64_t worker);
  /// A range number no range of the job has, for a split.
  Result<int> new_range_number();
  /// Asks the live workers holding the `ranges` key ranges with the most keys left (at least
  /// `min_remaining`, as their owners estimated) to split them. False when none qualifies.
  Result<bool> request_split(std::int64_t worker, double min_remaining, std::size_t ranges);

  /// Renews the leases of `claims` (and publishes the key ranges' estimates of keys left).
  /// A claim missing from the answer was taken over: this worker lost it.
  Result<Renewal> renew(std::int64_t worker, const std::vector<Claim>& claims,
                        const std::vector<std::pair<int, double>>& remaining);

  /// Claims a one-off task of the round (kRecheck, kCheck) if no live worker holds it and it
  /// is not complete. nullopt otherwise.
  Result<std::optional<Claim>> claim_task(std::int64_t worker, int round, ClaimKind kind);
  Result<TaskStand> task_stand(int round, ClaimKind kind, int number);
  /// Marks a held task complete. False when the claim was lost (nothing changed).
  Result<bool> complete_task(int round, const Claim& claim);

  /// Fixes the rows phase's bound for the round (the first worker to arrive sets it from
  /// `bounds`; later ones read it). Returns the bound, or nullopt for an empty table.
  Result<std::optional<std::int64_t>> begin_rows(int round, std::int64_t min_id,
                                                 std::int64_t max_id);
  /// Claims a primary-key range: one left by a worker that is gone first, else the next
  /// `end_after(lo)` past the round's cursor, up to its bound. nullopt when none is left.
  Result<std::optional<RowTask>> claim_rows(
      std::int64_t worker, int round,
      const std::function<Result<std::int64_t>(std::int64_t lo, std::int64_t bound)>& end_after);

  /// In an open transaction: locks the claimed row and checks its epoch. False when lost.
  /// Also notes the commit in the claim log.
  Result<bool> fence(int round, const Claim& claim);

  std::chrono::seconds lease() const { return lease_; }
  pg::Connection& db() { return state_.db(); }

 private:
  Status complete_round_if_done(int round);
  Status end_claims(ClaimKind kind, int number, std::int64_t except_epoch, const char* reason);
  std::string lease_interval() const;

  StateStore& state_;
  std::chrono::seconds lease_;
};

/// This machine's name, for the worker registry and `rehome status`.
std::string host_name();

}  // namespace rehome::engine
