// Phase 2 of `run`: every row under the legacy prefix whose object has a verified twin is
// rewritten, range by range of the primary key, one transaction per range. Rows whose object
// rehome has not seen (added by the application after the listing passed, or a reference that
// was always broken) are looked up and copied on the spot, then rewritten in the same pass.
#pragma once

#include <string>

#include "engine/context.h"
#include "engine/row_store.h"

namespace rehome::engine {

class RowSync {
 public:
  RowSync(Context& context, RowStore& rows);

  /// Walks the key ranges from the smallest key to the largest (and on, while the
  /// application adds rows). Stops early, cleanly, when a stop is requested.
  Status run(const std::string& run_started);

 private:
  Status sync_range(std::int64_t lo, std::int64_t hi, const std::string& run_started);

  Context& ctx_;
  RowStore& rows_;
};

}  // namespace rehome::engine
