#include "engine/membership.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "pg/retry.h"

namespace rehome::engine {

Result<std::unique_ptr<Membership>> Membership::join(const JobConfig& config,
                                                     const std::string& job) {
  pg::ConnectionConfig database = config.database;
  if (!database.application_name.empty()) database.application_name += " heartbeat";
  auto db = pg::Connection::open(database);
  if (!db) {
    Error e = db.error();
    e.message = "opening the heartbeat's connection: " + e.message +
                " (run needs 3 + --row-connections connections; see docs/PRIVILEGES.md)";
    return e;
  }
  std::unique_ptr<Membership> m(new Membership(std::move(db.value()), config, job));
  Status joined = pg::retry_db(m->db_, [&]() -> Status {
    auto found = m->state_.find_job();
    if (!found) return found.error();
    if (!*found) return Error::permanent(fmt::format("job \"{}\" is not registered", job));
    auto id = m->claims_.register_worker(host_name(), static_cast<int>(getpid()));
    if (!id) return id.error();
    m->worker_ = *id;
    return Ok{};
  });
  if (!joined) return joined.error();
  m->thread_ = std::thread([p = m.get()] { p->beat_loop(); });
  return m;
}

Membership::Membership(pg::Connection db, const JobConfig& config, const std::string& job)
    : db_(std::move(db)),
      state_(db_, config.state_schema, job),
      claims_(state_, config.lease),
      // A fifth of a lease, and at least once a second: the beat also carries the estimates
      // other workers' split requests go by, and brings theirs.
      period_(std::min<std::chrono::milliseconds>(
          std::chrono::duration_cast<std::chrono::milliseconds>(config.lease) / 5,
          std::chrono::seconds(1))),
      count_ranges_(!config.metrics_address.empty()) {}

Membership::~Membership() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  // Best effort: a database that is away leaves the leases to expire, as a kill would.
  (void)pg::retry_db(
      db_, [&] { return claims_.stop_worker(worker_); }, true, std::chrono::seconds(10));
}

void Membership::hold(const Claim& claim, bool confirmed) {
  std::lock_guard lock(mutex_);
  held_.push_back(claim);
  if (!confirmed) unconfirmed_.push_back(claim);
}

void Membership::drop(const Claim& claim) {
  std::lock_guard lock(mutex_);
  held_.erase(std::remove(held_.begin(), held_.end(), claim), held_.end());
  std::erase(unconfirmed_, claim);
}

bool Membership::holds(const Claim& claim) const {
  std::lock_guard lock(mutex_);
  return std::find(held_.begin(), held_.end(), claim) != held_.end();
}

std::vector<Claim> Membership::take_lost(ClaimKind kind) {
  std::lock_guard lock(mutex_);
  std::vector<Claim> out;
  std::erase_if(lost_, [&](const Claim& c) {
    if (c.kind != kind) return false;
    out.push_back(c);
    return true;
  });
  return out;
}

void Membership::note_lost(const Claim& claim) {
  std::lock_guard lock(mutex_);
  held_.erase(std::remove(held_.begin(), held_.end(), claim), held_.end());
  lost_.push_back(claim);
}

std::vector<int> Membership::take_split_requests() {
  std::lock_guard lock(mutex_);
  return std::exchange(split_requests_, {});
}

void Membership::publish_remaining(std::vector<std::pair<int, double>> remaining) {
  std::lock_guard lock(mutex_);
  remaining_ = std::move(remaining);
}

void Membership::publish(const WorkerStats& stats) {
  std::lock_guard lock(mutex_);
  stats_ = stats;
}

int Membership::others_alive() const {
  std::lock_guard lock(mutex_);
  return others_;
}

void Membership::beat_loop() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, period_, [&] { return stop_; });
    if (stop_) return;
    lock.unlock();
    beat_once();
    lock.lock();
  }
}

// One heartbeat: the claims held when it began are renewed; one missing from the answer was
// taken over. A claim held or dropped meanwhile is left for the next beat. A database that is
// away is retried for up to a lease: the claims may expire meanwhile, which the next answer
// (or a fenced commit) tells.
void Membership::beat_once() {
  std::vector<Claim> asked;
  std::vector<std::pair<int, double>> remaining;
  WorkerStats stats;
  {
    std::lock_guard lock(mutex_);
    asked = held_;
    remaining = remaining_;
    stats = stats_;
  }
  std::optional<Renewal> renewal;
  Status st = pg::retry_db(
      db_,
      [&]() -> Status {
        auto peers = claims_.beat(worker_, stats);
        if (!peers) return peers.error();
        {
          std::lock_guard lock(mutex_);
          others_ = peers->alive;
          share_ = peers->share;
        }
        if (asked.empty() && remaining.empty()) {
          renewal.emplace();
          return Ok{};
        }
        auto r = claims_.renew(worker_, asked, remaining);
        if (!r) return r.error();
        renewal = std::move(r.value());
        return Ok{};
      },
      true, claims_.lease());
  if (!st || !renewal) return;
  std::unique_lock lock(mutex_);
  for (const auto& claim : asked) {
    const bool renewed =
        std::find(renewal->held.begin(), renewal->held.end(), claim) != renewal->held.end();
    const auto still = std::find(held_.begin(), held_.end(), claim);
    if (renewed) {
      std::erase(unconfirmed_, claim);
    } else if (still != held_.end() &&
               std::find(unconfirmed_.begin(), unconfirmed_.end(), claim) == unconfirmed_.end()) {
      held_.erase(still);
      lost_.push_back(claim);
    }
  }
  for (int number : renewal->split_wanted) split_requests_.push_back(number);
  lock.unlock();
  count_job_ranges();  // after what the loop waits for (lost claims, split requests)
}

// Every few seconds, not every beat: a gauge scraped every 15 s or so needs no more, and every
// worker of the job counts.
void Membership::count_job_ranges() {
  constexpr auto kEvery = std::chrono::seconds(5);
  const auto now = std::chrono::steady_clock::now();
  if (!count_ranges_ || now - counted_at_ < kEvery) return;
  counted_at_ = now;
  auto counted = claims_.count_ranges();  // once: a failure waits for the next count
  if (!counted) return;
  std::lock_guard lock(mutex_);
  ranges_ = *counted;
}

double Membership::share_of_rate_limits() const {
  std::lock_guard lock(mutex_);
  return share_;
}

std::optional<JobRanges> Membership::job_ranges() const {
  std::lock_guard lock(mutex_);
  return ranges_;
}

}  // namespace rehome::engine
