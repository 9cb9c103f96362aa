// The database is the job's memory: when the connection breaks (restart, failover,
// pg_terminate_backend) the job reconnects and carries on instead of giving up.
#pragma once

#include <chrono>
#include <functional>

#include "pg/connection.h"
#include "util/result.h"

namespace rehome::engine {

/// Runs `attempt`; while it fails with kTransient (lost connection, timeout, serialization
/// failure) reconnects and retries, with a growing pause, for up to `patience`. An idempotent
/// `attempt` may also be replayed after kInDoubt; pass `replay_in_doubt` only for those.
/// The pause blocks the calling thread: S3 work waits with the database it depends on.
Status retry_db(pg::Connection& db, const std::function<Status()>& attempt,
                bool replay_in_doubt = false,
                std::chrono::seconds patience = std::chrono::seconds(300));

}  // namespace rehome::engine
