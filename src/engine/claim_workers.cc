// ClaimStore's worker registry: a worker's row in rehome.workers, its heartbeat, its clean stop,
// and how a worker restarted on the same machine tells that its predecessor is gone.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "engine/claim_store.h"
#include "pg/identifier.h"

namespace rehome::engine {

namespace {

// When a process started, in clock ticks since boot (/proc/PID/stat, field 22); "" when it
// cannot be read (no such process, or no /proc).
std::string start_time(int pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');  // The command name may hold spaces and parentheses.
  if (close == std::string::npos) return "";
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return field;
  }
  return "";
}

// The pid namespace this process sees pids in ("pid:[4026531836]").
std::string pid_namespace() {
  char link[64] = {};
  const auto n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
  return n > 0 ? std::string(link, static_cast<std::size_t>(n)) : "";
}

// A worker of this machine whose process is gone: killed, or this very process's previous life
// (a restarted container is often pid 1 again). Only decided in the same pid namespace (another
// container sharing the host name has pids of its own): there, no process with that pid, or
// one that started at another time, is another process. Otherwise its lease decides.
bool process_gone(int pid, const std::string& identity) {
  const auto slash = identity.rfind('/');
  if (slash == std::string::npos || identity.substr(0, slash) != pid_namespace()) return false;
  if (kill(pid, 0) == -1 && errno == ESRCH) return true;
  const std::string started = start_time(pid);
  return !started.empty() && started != identity.substr(slash + 1);
}

}  // namespace

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

Result<std::int64_t> ClaimStore::register_worker(const std::string& host, int pid) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  auto mine = db.exec(fmt::format("SELECT worker_id, pid, coalesce(process, '') FROM {}.workers "
                                  "WHERE job_id = $1 AND host = $2 AND stopped_at IS NULL",
                                  s),
                      {state_.job_id(), host});
  if (!mine) return mine.error();
  std::vector<std::int64_t> gone;
  for (int i = 0; i < mine->size(); ++i) {
    if (process_gone(static_cast<int>(mine->int64(i, 1)), std::string(mine->text(i, 2)))) {
      gone.push_back(mine->int64(i, 0));
    }
  }
  if (!gone.empty()) {
    const std::string ids = pg::int_array_literal(gone);
    for (const char* sql :
         {"UPDATE {0}.workers SET stopped_at = now(), stage = 'gone' "
          "WHERE job_id = $1 AND worker_id = ANY($2::bigint[])",
          "UPDATE {0}.ranges SET owner = NULL, lease_until = NULL "
          "WHERE job_id = $1 AND owner = ANY($2::bigint[]) AND completed_at IS NULL",
          "UPDATE {0}.tasks SET owner = NULL, lease_until = NULL "
          "WHERE job_id = $1 AND owner = ANY($2::bigint[]) AND completed_at IS NULL",
          "UPDATE {0}.claims SET ended_at = clock_timestamp(), end_reason = 'owner gone' "
          "WHERE job_id = $1 AND worker_id = ANY($2::bigint[]) AND ended_at IS NULL"}) {
      auto r = db.exec(fmt::format(fmt::runtime(sql), s), {state_.job_id(), ids});
      if (!r) return r.error();
    }
  }
  auto r = db.exec(
      fmt::format("INSERT INTO {}.workers (job_id, host, pid, process) "
                  "VALUES ($1, $2, $3, $4) RETURNING worker_id",
                  s),
      {state_.job_id(), host, std::to_string(pid), pid_namespace() + "/" + start_time(pid)});
  if (!r) return r.error();
  const std::int64_t id = r->int64(0, 0);
  if (auto st = tx->commit(); !st) return st.error();
  return id;
}

Result<Peers> ClaimStore::beat(std::int64_t worker, const WorkerStats& stats) {
  auto r = state_.db().exec(
      fmt::format("UPDATE {}.workers SET heartbeat_at = now(), stage = $2, objects = $3, "
                  "rows_rewritten = $4, requests = $5, throttled = $6, rate_limit = $7 "
                  "WHERE worker_id = $1",
                  state_.schema()),
      {std::to_string(worker), stats.stage, std::to_string(stats.objects),
       std::to_string(stats.rows), std::to_string(stats.requests), std::to_string(stats.throttled),
       fmt::format("{}", stats.rate_limit)});
  if (!r) return r.error();
  auto others = state_.db().exec(
      fmt::format("SELECT count(*), count(*) FILTER (WHERE rate_limit > 0), "
                  "coalesce(sum(rate_limit), 0) FROM {}.workers WHERE job_id = $1 AND "
                  "worker_id <> $2 AND stopped_at IS NULL AND heartbeat_at >= now() - $3::interval",
                  state_.schema()),
      {state_.job_id(), std::to_string(worker), lease_interval()});
  if (!others) return others.error();
  Peers peers;
  peers.alive = static_cast<int>(others->int64(0, 0));
  // Only when all of them are limited: one that is not has not met the server's limit, and the
  // sum of the others' would understate it.
  if (peers.alive > 0 && others->int64(0, 1) == peers.alive) {
    peers.share = std::stod(std::string(others->text(0, 2))) / (peers.alive + 1);
  }
  return peers;
}

Status ClaimStore::stop_worker(std::int64_t worker) {
  const std::string& s = state_.schema();
  auto& db = state_.db();
  auto tx = pg::Transaction::begin(db);
  if (!tx) return tx.error();
  for (const char* sql :
       {"UPDATE {0}.workers SET stopped_at = now(), stage = 'stopped' "
        "WHERE job_id = $1 AND worker_id = $2",
        "UPDATE {0}.ranges SET owner = NULL, lease_until = NULL "
        "WHERE job_id = $1 AND owner = $2 AND completed_at IS NULL",
        "UPDATE {0}.tasks SET owner = NULL, lease_until = NULL "
        "WHERE job_id = $1 AND owner = $2 AND completed_at IS NULL",
        "UPDATE {0}.claims SET ended_at = clock_timestamp(), end_reason = 'released' "
        "WHERE job_id = $1 AND worker_id = $2 AND ended_at IS NULL"}) {
    auto r = db.exec(fmt::format(fmt::runtime(sql), s), {state_.job_id(), std::to_string(worker)});
    if (!r) return r.error();
  }
  return tx->commit();
}

}  // namespace rehome::engine
