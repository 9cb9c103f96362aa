// Phase 1 of `run`: every object under the legacy prefix gets an identical twin in production.
// The legacy listing is cut into key ranges, planned once per job and kept in the state schema
// (engine/range_planner.h); several ranges are worked side by side, so listing is never one
// request at a time. Ranges are claimed (claim_store.h), so any number of workers share them:
// a range whose claim is lost is abandoned at once, and a worker with a lane free and nothing
// to claim splits its own busiest range or asks the worker with the busiest one to split it,
// then waits until every range of the job is complete. Within a range the legacy and production
// listings are merged in key order (no HEAD per object): an object whose twin is identical is
// recorded as copied, a differing twin as a conflict, and the rest are copied concurrently on the
// event loop. Outcomes are recorded in PostgreSQL in key order per range, with the range's
// watermark, so a killed run resumes every range after its last recorded key and repeats at most
// the copies that were in flight; the commits happen off the loop (engine/outcome_recorder.h). A
// lane left without a range splits the busiest one (range_split.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/lister.h"
#include "engine/outcome_sink.h"
#include "engine/range_split.h"

namespace rehome::engine {

/// How many objects one range may have started but not yet recorded. Outcomes are recorded in
/// key order, so one slow object holds back the recording of every later one in its range;
/// the window lets the range go on copying past it (4 requests' worth per slot of
/// --concurrency, plus a listing page's worth), and bounds the memory a stuck object can cost.
constexpr std::size_t window_limit(std::size_t concurrency) { return concurrency * 4 + 1000; }

/// When this many objects in a row, from the first, are refused with the same 403, the job
/// stops: a deny on the whole prefix, not on a few objects.
inline constexpr std::size_t kFirstRefusalsToStop = 20;

/// Settles again the objects earlier runs left as conflict or failed (they may have been
/// resolved since): a task of each round, before its rows are rewritten.
Status recheck_earlier_problems(Context& ctx);

class ObjectSync {
 public:
  explicit ObjectSync(Context& context);

  /// Claims and works the key ranges not yet complete until every range of the job is (this
  /// worker's or another's). Drives the loop until done, stopped, or a fatal error (returned).
  Status run();

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    std::string key;
    bool done = false;
    std::optional<CopyOutcome> outcome;
  };

  // One key range at work: its two listings merged, its copies in a window kept in key order.
  struct Lane {
    RangeProgress progress;
    std::optional<Lister> legacy;
    std::optional<Lister> production;
    std::deque<Slot> window;        // Front is the oldest unfinished or unrecorded.
    std::uint64_t window_base = 0;  // Sequence number of window.front().
    std::size_t in_flight = 0;
    std::optional<std::string> watermark;  // Drained into pending_, not yet recorded.
    bool listing_done = false;
    bool lost = false;  // Another worker took the range over: its outcomes are dropped.
  };

  Status plan_ranges(const JobProgress& progress);
  bool open_lanes();
  bool split_busiest_lane();
  /// Splits lane `index` at `point`; the new range is queued here, or `released` to any worker.
  void split_lane(std::size_t index, std::string point, bool released);
  /// What other workers changed: lost claims, split requests; and this worker's estimates.
  void coordinate();
  void abandon(Lane& lane);
  /// With no lane left: asks for a split elsewhere, and whether the job's listing is complete.
  void look_for_work();
  RangeClaim claim_of(const RangeProgress& range) const;
  ListingStand stand_of(const Lane& lane, std::string& bound) const;
  /// Keys a range must likely have left to be split (fewer when other workers share the job).
  double split_min_keys() const;
  void pump();
  bool pump_lane(Lane& lane);
  /// Objects allowed in flight now: as many as the S3 side allows requests.
  std::size_t slots() const;
  /// The most requests in flight at one endpoint: what each lane's listing window is sized for
  /// (slots() may reach twice it with two endpoints; the window's 1,000 spare covers that).
  std::size_t most_slots() const;
  void start(Lane& lane, s3::ObjectInfo legacy, std::optional<s3::ObjectInfo> twin);
  void complete(Lane* lane, std::uint64_t sequence, CopyOutcome outcome);
  void judge_first_outcomes(const CopyOutcome& outcome);
  void drain(Lane& lane);
  void retire_finished_lanes();
  void flush(bool final);
  bool all_listed() const;
  bool finished() const;

  Context& ctx_;
  std::deque<RangeProgress> queued_;          // Split off this worker's ranges, not started.
  std::vector<std::unique_ptr<Lane>> lanes_;  // At most config.ranges.
  std::size_t in_flight_ = 0;
  std::size_t next_lane_ = 0;                // Where pump()'s next pass starts.
  std::vector<ObjectRecord> pending_;        // Outcomes drained from windows, not yet handed over.
  std::vector<RangeMark> finished_marks_;    // Ranges completed since the last flush.
  std::vector<RangeClaim> finished_claims_;  // Their claims, fencing that flush.
  std::vector<RangeClaim> lost_claims_;      // Abandoned since the last flush (their records go).
  Clock::time_point next_claim_;             // No claim is tried before (none was waiting).
  Clock::time_point next_look_;              // Idle: next split request and completion check.
  Clock::time_point next_split_;             // No split released to the others before.
  bool job_listed_ = false;                  // Every range of the job is complete.
  std::vector<RangeSplit> pending_splits_;   // Splits made since the last flush.
  std::unique_ptr<OutcomeSink> sink_;        // While lanes are worked.
  Clock::time_point last_flush_;
  Clock::time_point last_coordinated_;
  // The first outcomes, while every one was refused with the same 403 (judge_first_outcomes).
  bool first_refusals_open_ = true;
  std::size_t first_refusals_ = 0;
  std::string first_refusal_code_;
  bool stopping_ = false;
  bool pumping_ = false;
  std::optional<Error> fatal_;
};

}  // namespace rehome::engine
