// Phase 2 of `run`: every row under the legacy prefix whose object has a verified twin is
// rewritten, range by range of the primary key, one transaction per range. Rows whose object
// rehome has not seen (added by the application after the listing passed, or a reference that
// was always broken) are looked up and copied on the spot, then rewritten in the same pass.
//
// The ranges' rewrites run on `--row-workers` connections of their own, each on a thread, so
// the database works on several ranges at once (the ranges hold disjoint rows: no two
// transactions ever wait for each other). Everything else stays on the calling thread: range
// boundaries, results in range order, the summary, and the rare range that needs S3 (its
// unseen objects are settled on the event loop, then the range is rewritten again).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/row_store.h"

namespace rehome::engine {

class RowSync {
 public:
  RowSync(Context& context, RowStore& rows);
  ~RowSync();

  /// Walks the key ranges from the smallest key to the largest (and on, while the
  /// application adds rows). Stops early, cleanly, when a stop is requested.
  Status run(const std::string& run_started);

 private:
  struct Worker;

  Status open_workers();
  Result<std::int64_t> next_range_end(std::int64_t lo, std::int64_t max);
  Status flip_on_main(std::int64_t lo, std::int64_t hi, const std::string& run_started);
  Status settle_range(std::int64_t lo, std::int64_t hi, FlipResult flipped, int round,
                      const std::string& run_started);

  Context& ctx_;
  RowStore& rows_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace rehome::engine
