// Records object outcomes on a thread of its own, with a PostgreSQL connection of its own, so
// the event loop keeps copying and listing while a batch commits (on the loop, recording cost
// ~60 ms per 1,000 outcomes: close to half of a listing-bound phase; docs/PERFORMANCE.md).
//
// Batches commit one at a time, in the order they were handed in, each in one transaction
// (StateStore::record). A range's watermark travels in the batch of the outcomes it covers or
// a later one, so at every instant the database holds what a synchronous recorder would have
// held at some earlier one: a kill loses at most the batches not yet committed, and the rerun
// resumes each range after its committed watermark, as before.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/config.h"
#include "engine/outcome_sink.h"
#include "engine/state_store.h"
#include "pg/connection.h"
#include "util/result.h"

namespace rehome::engine {

class OutcomeRecorder final : public OutcomeSink {
 public:
  using Batch = OutcomeBatch;

  /// Opens the recorder's own connection, finds the job (registered by the caller's
  /// ensure_schema()), and starts the thread. `max_waiting` batches may wait behind the one
  /// being committed before submit() blocks.
  static Result<std::unique_ptr<OutcomeRecorder>> open(const JobConfig& config,
                                                       const std::string& job,
                                                       std::size_t max_waiting = 4);

  OutcomeRecorder(const OutcomeRecorder&) = delete;
  OutcomeRecorder& operator=(const OutcomeRecorder&) = delete;
  /// Commits what was handed in (as drain()), then stops the thread.
  ~OutcomeRecorder() override;

  /// Hands a batch over. Blocks while `max_waiting` batches wait: the database is behind, and
  /// S3 work waits for it rather than piling up outcomes in memory. Returns the first failure
  /// of any earlier batch; after one, nothing more is recorded, so no later watermark can
  /// pass outcomes that were lost.
  Status submit(Batch batch) override;

  /// Waits until every batch handed in is committed; returns the first failure, if any.
  Status drain() override;

  /// The first failure so far, without waiting.
  Status status() const override;

  /// Claims whose batches found the range taken over since last asked.
  std::vector<RangeClaim> take_lost() override;

 private:
  OutcomeRecorder(pg::Connection db, const JobConfig& config, const std::string& job,
                  std::size_t max_waiting);
  void work();

  pg::Connection db_;
  StateStore state_;
  const std::size_t max_waiting_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // A batch arrived, one was committed, or stop.
  std::deque<Batch> waiting_;
  bool committing_ = false;
  bool stop_ = false;
  std::optional<Error> failure_;
  std::vector<RangeClaim> lost_;
  std::thread thread_;  // Last: started once everything above exists.
};

}  // namespace rehome::engine
