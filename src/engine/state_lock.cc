// StateStore's job lock: a session-level advisory lock, taken again on every reconnect. Workers
// (`run`) share it: any number run one job together (claim_store.h says how). `cleanup` takes
// it alone: it never runs beside a worker, nor beside another cleanup. And who holds it, for
// the message that refuses.
#include <fmt/format.h>

#include "engine/state_store.h"

namespace rehome::engine {

namespace {

// Who holds the job's advisory lock, for messages: "PostgreSQL session 4242 (application
// "rehome", since 2026-12-02 10:00:00+00)". pg_locks and these columns of pg_stat_activity are
// readable by every role. A single-bigint advisory key is split into classid (high 32 bits)
// and objid (low 32 bits), with objsubid 1.
std::string describe_lock_holder(pg::Connection& db, const std::string& job) {
  auto r = db.exec(
      "SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.backend_start::text, '') "
      "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> "
      "pg_backend_pid() "
      "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND l.classid::bigint = (hashtext($1)::bigint >> 32) & 4294967295 "
      "AND l.objid::bigint = hashtext($1)::bigint & 4294967295",
      {job});
  if (!r || r->size() == 0) return "another PostgreSQL session";
  std::string who = fmt::format("PostgreSQL session {}", r->text(0, 0));
  if (!r->text(0, 1).empty()) who += fmt::format(" (application \"{}\"", r->text(0, 1));
  if (!r->text(0, 2).empty()) {
    who += r->text(0, 1).empty() ? " (" : ", ";
    who += fmt::format("connected since {}", r->text(0, 2));
  }
  if (!r->text(0, 1).empty() || !r->text(0, 2).empty()) who += ")";
  return who;
}

Result<bool> try_job_lock(pg::Connection& db, const std::string& job, JobLock mode) {
  auto r = db.exec(mode == JobLock::kShared ? "SELECT pg_try_advisory_lock_shared(hashtext($1))"
                                            : "SELECT pg_try_advisory_lock(hashtext($1))",
                   {job});
  if (!r) return r.error();
  return r->text(0, 0) == "t";
}

}  // namespace

Status StateStore::lock_job(JobLock mode) {
  auto taken = try_job_lock(db_, job_, mode);
  if (!taken) return taken.error();
  if (!*taken) {
    return Error::of(
        ErrorKind::kConflict,
        mode == JobLock::kShared
            ? fmt::format("a rehome cleanup (or a rehome older than 0.20, which ran one process "
                          "per job) is running the job \"{}\" against this database ({} holds "
                          "its lock): wait for it to finish or stop it",
                          job_, describe_lock_holder(db_, job_))
            : fmt::format("rehome is running the job \"{}\" against this database ({} holds "
                          "its lock): cleanup runs alone, never beside a worker or another "
                          "cleanup; wait for them to finish or stop them",
                          job_, describe_lock_holder(db_, job_)));
  }
  // The lock belongs to the server session: a reconnect must take it again before this
  // process goes on, or a cleanup could start beside a worker unnoticed.
  db_.set_session_setup([job = job_, mode](pg::Connection& db) -> Status {
    auto again = try_job_lock(db, job, mode);
    if (!again) return again.error();
    if (*again) return Ok{};
    // Transient: when the holder is this process's own previous session, which the server has
    // not yet seen close, waiting (retry_db's patience) is all it takes.
    return Error::of(
        ErrorKind::kTransient,
        fmt::format("the connection to PostgreSQL broke, the job \"{}\"'s lock went "
                    "with it, and {} holds it now. If a rehome cleanup (or run) is under way, "
                    "let it finish; if not, that session is this process's lost "
                    "connection, which the server ends once it notices (see "
                    "tcp_keepalives_idle), or which a DBA can end with "
                    "pg_terminate_backend",
                    job, describe_lock_holder(db, job)));
  });
  return Ok{};
}

}  // namespace rehome::engine
