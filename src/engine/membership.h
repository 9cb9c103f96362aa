// This process as one worker of a job shared through PostgreSQL (claim_store.h): its row in
// rehome.workers, the claims it holds, and a heartbeat on a thread and connection of its own
// that renews their leases every fifth of a lease, publishes the worker's counters for
// `rehome status`, and finds out which claims another worker took over (this one was frozen,
// partitioned, or too slow) and which of its key ranges other workers asked it to split.
//
// The engine's threads only ever touch this object through its methods (a mutex): the loop's
// thread holds and drops claims and reads what was lost; the recorder reports what its fenced
// commits found lost.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "engine/claim_store.h"
#include "engine/config.h"
#include "pg/connection.h"
#include "util/result.h"

namespace rehome::engine {

class Membership {
 public:
  /// Registers this process as a worker of `job` (registered by ensure_schema) and starts the
  /// heartbeat.
  static Result<std::unique_ptr<Membership>> join(const JobConfig& config, const std::string& job);
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;
  /// Stops the heartbeat, marks the worker stopped and releases what it still holds, so other
  /// workers need not wait for the leases (a kill leaves them to expire, or to be found gone).
  ~Membership();

  std::int64_t worker() const { return worker_; }

  /// `confirmed`: the claim's row is known to exist. A range split off and kept is held before
  /// its split commits (its epoch keeps it renewed); until a renewal first finds it, the
  /// heartbeat does not call it lost (a fenced commit would).
  void hold(const Claim& claim, bool confirmed = true);
  void drop(const Claim& claim);
  bool holds(const Claim& claim) const;
  /// Claims of `kind` found taken over since last asked (by the heartbeat, or a fenced commit).
  std::vector<Claim> take_lost(ClaimKind kind);
  /// Records a claim a fenced commit found taken over.
  void note_lost(const Claim& claim);
  /// Key ranges other workers asked this one to split, since last asked.
  std::vector<int> take_split_requests();
  /// The key ranges' estimates of keys left, published at the next heartbeat.
  void publish_remaining(std::vector<std::pair<int, double>> remaining);
  void publish(const WorkerStats& stats);
  /// Other workers of the job heard from within a lease, at the last heartbeat.
  int others_alive() const;
  /// This worker's share of the other workers' rate limits, requests/s, when all of them are
  /// limited (claim_store.h's Peers), at the last heartbeat; 0 otherwise.
  double share_of_rate_limits() const;
  /// The job's ranges by state, counted by the heartbeat every few seconds when the run serves
  /// metrics (config.metrics_address); nullopt before the first count, or without metrics.
  std::optional<JobRanges> job_ranges() const;

 private:
  Membership(pg::Connection db, const JobConfig& config, const std::string& job);
  void beat_loop();
  void beat_once();
  void count_job_ranges();

  pg::Connection db_;
  StateStore state_;
  ClaimStore claims_;
  std::int64_t worker_ = 0;
  std::chrono::milliseconds period_;
  bool count_ranges_;
  std::chrono::steady_clock::time_point counted_at_{};  // heartbeat thread only

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::vector<Claim> held_;
  std::vector<Claim> unconfirmed_;
  std::vector<Claim> lost_;
  std::vector<int> split_requests_;
  std::vector<std::pair<int, double>> remaining_;
  WorkerStats stats_;
  int others_ = 0;
  double share_ = 0;
  std::optional<JobRanges> ranges_;
  std::thread thread_;  // Last: started once everything above exists.
};

}  // namespace rehome::engine
