// The job's bookkeeping in memory, for ObjectSync's unit tests: ranges, watermarks and object
// records as PostgreSQL would hold them, and a sink that applies each batch at once and checks
// the promise a kill relies on: no range's watermark ever passes a key whose outcome is not
// recorded.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/job_state.h"

namespace rehome::fakes {

class FakeJobState final : public engine::JobState {
 public:
  engine::JobProgress job;
  std::vector<engine::RangeProgress> saved_ranges;  ///< In key order, as ranges() returns them.
  std::map<std::string, engine::ObjectRecord> records;
  /// The last copy rehome wrote per legacy key (outlives later outcomes, as in PostgreSQL).
  std::map<std::string, engine::RecordedCopy> copies;
  /// Keys recorded since the test last cleared it ("this run").
  std::set<std::string> fresh;
  /// Every batch the sink recorded, in order.
  std::vector<engine::OutcomeBatch> batches;
  /// Keys the sink saw a watermark pass before their outcome was recorded: must stay empty.
  std::vector<std::string> watermark_violations;
  std::size_t splits = 0;
  /// When set, a batch carrying a split fails with it (a database that went away for good).
  std::optional<Error> split_error;
  /// When set, the sink fails every batch after this many with a permanent error.
  std::optional<std::size_t> sink_fails_after;

  /// Every key of `keys` under the legacy listing: the sink checks watermarks against it.
  std::vector<std::string> universe;

  Result<engine::JobProgress> progress() override { return job; }
  Status reset_listing() override;
  Result<std::vector<engine::RangeProgress>> ranges() override { return saved_ranges; }
  Result<std::vector<engine::RangeProgress>> save_ranges(
      const std::vector<engine::KeyRange>& plan) override;
  Result<std::vector<engine::ObjectRecord>> records_in_state(
      const std::vector<engine::ObjectState>& states, const std::string& after, int limit) override;
  /// Copied records not written since `fresh` was last cleared (a new run): `before` is not
  /// read, the fake has no clock.
  Result<std::vector<engine::ObjectRecord>> copied_before(const std::string& before,
                                                          const std::string& after,
                                                          const std::string& last,
                                                          int limit) override;
  Result<std::optional<engine::RecordedCopy>> recorded_copy(const std::string& legacy_key) override;
  Status record(const std::vector<engine::ObjectRecord>& batch) override;
  Result<std::unique_ptr<engine::OutcomeSink>> open_outcome_sink() override;

  /// The uploads ledger, in memory: entries still open, by entry number.
  std::map<std::int64_t, engine::PendingUpload> uploads;
  /// The production endpoint the fake records uploads at.
  std::string endpoint = "http://s3.fake";
  /// When set, recording an upload's id fails with it (the database went away mid-copy).
  std::optional<Error> upload_record_error;
  Result<std::int64_t> upload_opening(const std::string& bucket, const std::string& key) override {
    const std::int64_t entry = next_upload_++;
    uploads[entry] =
        engine::PendingUpload{entry, endpoint, bucket, key, "", "2026-12-03T00:00:00Z"};
    return entry;
  }
  Status upload_opened(std::int64_t entry, const std::string& upload_id) override {
    if (upload_record_error) return *upload_record_error;
    uploads.at(entry).upload_id = upload_id;
    return Ok{};
  }
  Status upload_closed(std::int64_t entry) override {
    uploads.erase(entry);
    return Ok{};
  }
  Result<std::vector<engine::PendingUpload>> pending_uploads() override {
    std::vector<engine::PendingUpload> out;
    for (const auto& [entry, upload] : uploads) out.push_back(upload);
    return out;
  }

  // Claims, as one worker sees them: a range is claimable while incomplete and not claimed by
  // this "run" (open_outcome_sink() starts a new one, as a new process would).
  Result<std::optional<engine::RangeProgress>> claim_range() override;
  void keep_range(const engine::RangeProgress& range) override { kept.insert(range.number); }
  void drop_range(const engine::RangeProgress& range) override { dropped.insert(range.number); }
  std::set<int> kept;
  Result<int> new_range_number() override;
  Result<bool> request_split(double, std::size_t) override { return false; }
  std::vector<engine::RangeClaim> lost_ranges() override { return std::exchange(taken_over, {}); }
  std::vector<int> split_requests() override { return std::exchange(asked_to_split, {}); }
  void publish_remaining(std::vector<std::pair<int, double>> remaining) override {
    published = std::move(remaining);
  }
  bool shared() const override { return other_workers; }
  /// Whether ObjectSync is told that other workers share the job.
  bool other_workers = false;
  /// Another worker takes range `number` over: a new epoch, and the heartbeat's report.
  void take_over(int number);
  std::set<int> claimed;
  std::set<int> dropped;
  std::vector<engine::RangeClaim> taken_over;
  std::vector<int> asked_to_split;
  std::vector<std::pair<int, double>> published;
  /// Claims the sink found lost (handed out by its take_lost()).
  std::vector<engine::RangeClaim> fenced;
  std::int64_t next_epoch = 1;
  /// Records a fenced batch dropped (a range taken over).
  std::size_t fenced_records = 0;

  /// Keeps one record, as the upsert does.
  void keep(const engine::ObjectRecord& record);
  /// Applies a batch as one transaction would (used by the sink).
  Status apply(engine::OutcomeBatch batch);
  /// Applies one split as the statement would (a replay changes nothing).
  void split(const engine::RangeSplit& split);
  /// True when the ranges chain from "" to "" with no gap or overlap.
  bool ranges_cover_everything() const;

 private:
  bool taken_by_other(int number) const { return others_.contains(number); }
  std::set<int> others_;  // Ranges another worker took over (take_over).
  int next_range_ = 0;
  std::int64_t next_upload_ = 1;
};

}  // namespace rehome::fakes
