// What the objects phase reads and writes of the job's bookkeeping, as an interface: PgJobState
// keeps it in rehome's schema in PostgreSQL (retrying what is safe to retry after a lost
// connection); the unit tests keep it in memory (tests/fakes/fake_job_state.h) to run
// ObjectSync's merge, window, watermarks and splits in milliseconds.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/config.h"
#include "engine/key_ranges.h"
#include "engine/outcome_sink.h"
#include "engine/state_store.h"
#include "engine/upload_ledger.h"
#include "util/result.h"

namespace rehome::engine {

class JobState : public UploadLedger {
 public:
  virtual ~JobState() = default;

  virtual Result<JobProgress> progress() = 0;
  /// Forgets the listing's progress and its ranges: the next run lists and plans anew.
  virtual Status reset_listing() = 0;
  /// The job's key ranges in key order (empty until a plan is saved).
  virtual Result<std::vector<RangeProgress>> ranges() = 0;
  /// Saves a plan unless the job has one, and returns the job's ranges.
  virtual Result<std::vector<RangeProgress>> save_ranges(const std::vector<KeyRange>& plan) = 0;
  /// Records whose state is one of `states`, in key order after `after`, at most `limit`.
  virtual Result<std::vector<ObjectRecord>> records_in_state(const std::vector<ObjectState>& states,
                                                             const std::string& after,
                                                             int limit) = 0;
  /// Copied records last written before `before` (an earlier run's), in key order within
  /// (after, last] ("" = unbounded), at most `limit` (StateStore::copied_before).
  virtual Result<std::vector<ObjectRecord>> copied_before(const std::string& before,
                                                          const std::string& after,
                                                          const std::string& last, int limit) = 0;
  /// The copy recorded for a legacy key in an earlier run, if any (StateStore::recorded_copy).
  virtual Result<std::optional<RecordedCopy>> recorded_copy(const std::string& legacy_key) = 0;
  /// Records outcomes at once, outside the sink (objects settled by key, a few at a time).
  virtual Status record(const std::vector<ObjectRecord>& records) = 0;
  /// Opens the sink for the objects phase's batches; closed (destroyed) before the row phase.
  virtual Result<std::unique_ptr<OutcomeSink>> open_outcome_sink() = 0;

  // Sharing the listing with other workers (claim_store.h).
  /// Claims a key range no live worker holds, its epoch set; nullopt when none is waiting.
  virtual Result<std::optional<RangeProgress>> claim_range() = 0;
  /// Holds a range split off one of this worker's and kept (under the donor's epoch).
  virtual void keep_range(const RangeProgress& range) = 0;
  /// Stops renewing a range's claim: this worker is done with it (or lost it).
  virtual void drop_range(const RangeProgress& range) = 0;
  /// A range number no range of the job has yet, for a split.
  virtual Result<int> new_range_number() = 0;
  /// Asks the workers holding the `ranges` ranges with the most keys left (at least
  /// `min_remaining`) to split them. False when none qualifies.
  virtual Result<bool> request_split(double min_remaining, std::size_t ranges) = 0;
  /// Key ranges the heartbeat found taken over since last asked (number and epoch).
  virtual std::vector<RangeClaim> lost_ranges() = 0;
  /// Ranges of this worker that others asked it to split, since last asked.
  virtual std::vector<int> split_requests() = 0;
  /// The estimates of keys left in this worker's ranges, for the others' split requests.
  virtual void publish_remaining(std::vector<std::pair<int, double>> remaining) = 0;
  /// True while other workers of the job are alive: a split then leaves the new range to
  /// whichever worker claims it first, instead of keeping it.
  virtual bool shared() const = 0;
};

class Membership;

/// The job's state in PostgreSQL, on the main connection of `store`; the sink is an
/// OutcomeRecorder with a connection of its own; claims are this process's `membership`'s.
class PgJobState final : public JobState {
 public:
  PgJobState(StateStore& store, const JobConfig& config, Membership& membership)
      : store_(store), config_(config), membership_(membership) {}

  Result<JobProgress> progress() override;
  Status reset_listing() override;
  Result<std::vector<RangeProgress>> ranges() override;
  Result<std::vector<RangeProgress>> save_ranges(const std::vector<KeyRange>& plan) override;
  Result<std::vector<ObjectRecord>> records_in_state(const std::vector<ObjectState>& states,
                                                     const std::string& after, int limit) override;
  Result<std::vector<ObjectRecord>> copied_before(const std::string& before,
                                                  const std::string& after, const std::string& last,
                                                  int limit) override;
  Result<std::optional<RecordedCopy>> recorded_copy(const std::string& legacy_key) override;
  Status record(const std::vector<ObjectRecord>& records) override;
  Result<std::unique_ptr<OutcomeSink>> open_outcome_sink() override;
  Result<std::int64_t> upload_opening(const std::string& bucket, const std::string& key) override;
  Status upload_opened(std::int64_t entry, const std::string& upload_id) override;
  Status upload_closed(std::int64_t entry) override;
  Result<std::vector<PendingUpload>> pending_uploads() override;
  Result<std::optional<RangeProgress>> claim_range() override;
  void keep_range(const RangeProgress& range) override;
  void drop_range(const RangeProgress& range) override;
  Result<int> new_range_number() override;
  Result<bool> request_split(double min_remaining, std::size_t ranges) override;
  std::vector<RangeClaim> lost_ranges() override;
  std::vector<int> split_requests() override;
  void publish_remaining(std::vector<std::pair<int, double>> remaining) override;
  bool shared() const override;

 private:
  StateStore& store_;
  const JobConfig& config_;
  Membership& membership_;
};

}  // namespace rehome::engine
