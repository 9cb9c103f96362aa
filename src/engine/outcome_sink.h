// Where the objects phase hands its outcomes: batches recorded in the order handed in, each
// with the ranges' watermarks it moves, so a watermark never passes an outcome not yet
// recorded. OutcomeRecorder commits them to PostgreSQL on a thread of its own; the unit tests
// record them in memory and check that order.
#pragma once

#include <vector>

#include "engine/state_store.h"
#include "util/result.h"

namespace rehome::engine {

/// What one transaction records: range splits (applied first), outcomes, the ranges' new
/// watermarks (the listing is done when its last range is), and the claims they are made
/// under: nothing is recorded for a range this worker no longer holds.
struct OutcomeBatch {
  std::vector<ObjectRecord> records;
  std::vector<RangeMark> marks;
  /// Splits made since the last batch. In the stream of batches a split always comes before
  /// any outcome of the range it creates, so that range is never recorded without its row.
  std::vector<RangeSplit> splits{};
  /// The worker's key ranges when the batch was made (empty: unfenced, a single process).
  std::vector<RangeClaim> claims{};
};

class OutcomeSink {
 public:
  virtual ~OutcomeSink() = default;
  /// Hands a batch over; may block while earlier ones are recorded (backpressure). Returns the
  /// first failure of any earlier batch; after one, nothing more is recorded.
  virtual Status submit(OutcomeBatch batch) = 0;
  /// Waits until every batch handed in is recorded; returns the first failure, if any.
  virtual Status drain() = 0;
  /// The first failure so far, without waiting.
  virtual Status status() const = 0;
  /// Claims whose batches found their range taken over by another worker, since last asked:
  /// nothing of theirs was recorded, and the range is no longer this worker's to work.
  virtual std::vector<RangeClaim> take_lost() = 0;
};

}  // namespace rehome::engine
