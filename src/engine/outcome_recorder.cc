#include "engine/outcome_recorder.h"

#include <utility>

#include <fmt/format.h>

#include "pg/retry.h"
#include "util/failpoint.h"

namespace rehome::engine {

Result<std::unique_ptr<OutcomeRecorder>> OutcomeRecorder::open(const JobConfig& config,
                                                               const std::string& job,
                                                               std::size_t max_waiting) {
  // Named apart in pg_stat_activity, so an operator sees which connection does what.
  pg::ConnectionConfig database = config.database;
  if (!database.application_name.empty()) database.application_name += " outcomes";
  auto db = pg::Connection::open(database);
  if (!db) {
    Error e = db.error();
    e.message = "opening the connection that records copy outcomes: " + e.message +
                " (run needs 2 + --row-connections connections; see docs/PRIVILEGES.md)";
    return e;
  }
  // Not make_unique: the constructor is private, and the thread must start on the object's
  // final address.
  std::unique_ptr<OutcomeRecorder> recorder(
      new OutcomeRecorder(std::move(db.value()), config, job, max_waiting));
  // The job is registered (ensure_schema) before objects are worked; a missing one is a bug,
  // but better said than recorded under an empty job id.
  Status found = pg::retry_db(recorder->db_, [&]() -> Status {
    auto r = recorder->state_.find_job();
    if (!r) return r.error();
    if (!*r) {
      return Error::permanent(fmt::format("job \"{}\" is not registered", job));
    }
    return Ok{};
  });
  if (!found) return found.error();
  recorder->thread_ = std::thread([r = recorder.get()] { r->work(); });
  return recorder;
}

OutcomeRecorder::OutcomeRecorder(pg::Connection db, const JobConfig& config, const std::string& job,
                                 std::size_t max_waiting)
    : db_(std::move(db)),
      state_(db_, config.state_schema, job),
      max_waiting_(max_waiting == 0 ? 1 : max_waiting) {}

OutcomeRecorder::~OutcomeRecorder() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

Status OutcomeRecorder::submit(Batch batch) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failure_ || waiting_.size() < max_waiting_; });
  if (failure_) return *failure_;
  waiting_.push_back(std::move(batch));
  lock.unlock();
  changed_.notify_all();
  return Ok{};
}

Status OutcomeRecorder::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return failure_ || (waiting_.empty() && !committing_); });
  if (failure_) return *failure_;
  return Ok{};
}

std::vector<RangeClaim> OutcomeRecorder::take_lost() {
  std::lock_guard lock(mutex_);
  return std::exchange(lost_, {});
}

Status OutcomeRecorder::status() const {
  std::lock_guard lock(mutex_);
  if (failure_) return *failure_;
  return Ok{};
}

// The thread: commits batches oldest first until told to stop with nothing left waiting. Only
// this thread touches db_ and state_ once it runs.
void OutcomeRecorder::work() {
  while (true) {
    Batch batch;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || !waiting_.empty(); });
      if (waiting_.empty() || failure_) return;  // Stopped; or nothing may follow a failure.
      batch = std::move(waiting_.front());
      waiting_.pop_front();
      committing_ = true;
    }
    // An upsert of the same values, watermarks only moving forward: replaying it after an
    // in-doubt commit is harmless. The pauses of retry_db block this thread only; the loop
    // goes on until max_waiting batches pile up behind it.
    std::vector<int> lost;
    Status st = pg::retry_db(
        db_,
        [&]() -> Status {
          auto recorded = state_.record(batch.records, batch.marks, batch.splits, batch.claims);
          if (!recorded) return recorded.error();
          lost = std::move(recorded.value());
          return Ok{};
        },
        /*replay_in_doubt=*/true);
    if (st && !batch.splits.empty()) failpoint("after-splitting-a-range");
    if (st) failpoint("after-recording-outcomes");
    {
      std::lock_guard lock(mutex_);
      committing_ = false;
      for (int number : lost) {
        for (const auto& claim : batch.claims) {
          if (claim.number == number) lost_.push_back(claim);
        }
      }
      if (!st) {
        failure_ = st.error();
        waiting_.clear();
      }
    }
    changed_.notify_all();
  }
}

}  // namespace rehome::engine
