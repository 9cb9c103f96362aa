#include "engine/job_state.h"

#include "engine/claim_store.h"
#include "engine/membership.h"
#include "engine/outcome_recorder.h"
#include "pg/retry.h"

namespace rehome::engine {

// Reads are retried after a lost connection; so are the writes, each of which is safe to replay
// after an in-doubt commit (state_store.h says why for each).

Result<JobProgress> PgJobState::progress() {
  return pg::retry_db_value<JobProgress>(store_.db(), [&] { return store_.progress(); });
}

Status PgJobState::reset_listing() {
  return pg::retry_db(
      store_.db(), [&] { return store_.reset_listing(); }, /*replay_in_doubt=*/true);
}

Result<std::vector<RangeProgress>> PgJobState::ranges() {
  return pg::retry_db_value<std::vector<RangeProgress>>(store_.db(),
                                                        [&] { return store_.ranges(); });
}

Result<std::vector<RangeProgress>> PgJobState::save_ranges(const std::vector<KeyRange>& plan) {
  return pg::retry_db_value<std::vector<RangeProgress>>(
      store_.db(), [&] { return store_.save_ranges(plan); }, /*replay_in_doubt=*/true);
}

Result<std::vector<ObjectRecord>> PgJobState::records_in_state(
    const std::vector<ObjectState>& states, const std::string& after, int limit) {
  return pg::retry_db_value<std::vector<ObjectRecord>>(
      store_.db(), [&] { return store_.records_in_state(states, after, limit); });
}

Result<std::vector<ObjectRecord>> PgJobState::copied_before(const std::string& before,
                                                            const std::string& after,
                                                            const std::string& last, int limit) {
  return pg::retry_db_value<std::vector<ObjectRecord>>(
      store_.db(), [&] { return store_.copied_before(before, after, last, limit); });
}

Result<std::optional<RecordedCopy>> PgJobState::recorded_copy(const std::string& legacy_key) {
  return pg::retry_db_value<std::optional<RecordedCopy>>(
      store_.db(), [&] { return store_.recorded_copy(legacy_key); });
}

Status PgJobState::record(const std::vector<ObjectRecord>& records) {
  return pg::retry_db(
      store_.db(),
      [&]() -> Status {
        auto r = store_.record(records, {});
        if (!r) return r.error();
        return Ok{};
      },
      /*replay_in_doubt=*/true);
}

// The claims' statements run on the loop's thread, once per range claimed or split: a few
// milliseconds per range of thousands of objects.
Result<std::optional<RangeProgress>> PgJobState::claim_range() {
  ClaimStore claims(store_, config_.lease);
  // Not replayed when in doubt: a claim committed unseen is found expired one lease later.
  auto range = pg::retry_db_value<std::optional<RangeProgress>>(
      store_.db(), [&] { return claims.claim_range(membership_.worker()); });
  if (range && *range) membership_.hold(Claim{ClaimKind::kKeys, (*range)->number, (*range)->epoch});
  return range;
}

void PgJobState::keep_range(const RangeProgress& range) {
  membership_.hold(Claim{ClaimKind::kKeys, range.number, range.epoch}, /*confirmed=*/false);
}

void PgJobState::drop_range(const RangeProgress& range) {
  membership_.drop(Claim{ClaimKind::kKeys, range.number, range.epoch});
}

Result<int> PgJobState::new_range_number() {
  ClaimStore claims(store_, config_.lease);
  return pg::retry_db_value<int>(store_.db(), [&] { return claims.new_range_number(); });
}

Result<bool> PgJobState::request_split(double min_remaining, std::size_t ranges) {
  ClaimStore claims(store_, config_.lease);
  return pg::retry_db_value<bool>(
      store_.db(),
      [&] { return claims.request_split(membership_.worker(), min_remaining, ranges); }, true);
}

std::vector<RangeClaim> PgJobState::lost_ranges() {
  std::vector<RangeClaim> out;
  for (const auto& claim : membership_.take_lost(ClaimKind::kKeys)) {
    out.push_back(RangeClaim{claim.number, claim.epoch, {}, {}});
  }
  return out;
}

bool PgJobState::shared() const { return membership_.others_alive() > 0; }

std::vector<int> PgJobState::split_requests() { return membership_.take_split_requests(); }

void PgJobState::publish_remaining(std::vector<std::pair<int, double>> remaining) {
  membership_.publish_remaining(std::move(remaining));
}

// The ledger's statements run on the loop's thread (a few per multipart object): a database
// that is away fails the one copy after a short wait, rather than stall every transfer for the
// usual patience. An INSERT is not replayed when its outcome is in doubt (a second entry would
// only be reported as an upload that may not have been named); the others are idempotent.
constexpr std::chrono::seconds kLedgerPatience{10};

Result<std::int64_t> PgJobState::upload_opening(const std::string& bucket, const std::string& key) {
  std::optional<std::int64_t> entry;
  auto st = pg::retry_db(
      store_.db(),
      [&]() -> Status {
        auto r = store_.upload_opening(config_.production.client.endpoint.url, bucket, key,
                                       membership_.worker());
        if (!r) return r.error();
        entry = *r;
        return Ok{};
      },
      false, kLedgerPatience);
  if (!st) return st.error();
  return *entry;
}

Status PgJobState::upload_opened(std::int64_t entry, const std::string& upload_id) {
  return pg::retry_db(
      store_.db(), [&] { return store_.upload_opened(entry, upload_id); }, true, kLedgerPatience);
}

Status PgJobState::upload_closed(std::int64_t entry) {
  return pg::retry_db(
      store_.db(), [&] { return store_.upload_closed(entry); }, true, kLedgerPatience);
}

Result<std::vector<PendingUpload>> PgJobState::pending_uploads() {
  return pg::retry_db_value<std::vector<PendingUpload>>(
      store_.db(), [&] { return store_.pending_uploads(config_.lease); }, true);
}

Result<std::unique_ptr<OutcomeSink>> PgJobState::open_outcome_sink() {
  auto recorder = OutcomeRecorder::open(config_, store_.job());
  if (!recorder) return recorder.error();
  return std::unique_ptr<OutcomeSink>(std::move(recorder.value()));
}

}  // namespace rehome::engine
