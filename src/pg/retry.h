// The database is the job's memory: when the connection breaks (restart, failover,
// pg_terminate_backend) the job reconnects and carries on instead of giving up.
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "pg/connection.h"
#include "util/result.h"

namespace rehome::pg {

/// Runs `attempt`; while it fails with kTransient (lost connection, timeout, serialization
/// failure) reconnects and retries, pausing with full jitter (uniform in [0, a doubling ceiling
/// capped at 2 s], so processes that lost the same server do not come back in step), for up to
/// `patience`. An idempotent `attempt` may also be replayed after kInDoubt; pass
/// `replay_in_doubt` only for those. The pause blocks the calling thread: work that needs the
/// database waits for it.
Status retry_db(Connection& db, const std::function<Status()>& attempt,
                bool replay_in_doubt = false,
                std::chrono::seconds patience = std::chrono::seconds(300));

/// retry_db for an attempt that returns a value.
template <typename T, typename Attempt>
Result<T> retry_db_value(Connection& db, Attempt&& attempt, bool replay_in_doubt = false) {
  std::optional<Result<T>> out;
  Status st = retry_db(
      db,
      [&]() -> Status {
        out.emplace(attempt());
        if (!*out) return out->error();
        return Ok{};
      },
      replay_in_doubt);
  if (!st) return st.error();
  return std::move(*out);
}

}  // namespace rehome::pg
