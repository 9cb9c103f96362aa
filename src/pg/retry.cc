#include "pg/retry.h"

#include <algorithm>
#include <random>
#include <thread>

namespace rehome::pg {

namespace {

constexpr std::chrono::milliseconds kFirstPause{100};
constexpr std::chrono::milliseconds kMaxPause{2000};

}  // namespace

Status retry_db(Connection& db, const std::function<Status()>& attempt, bool replay_in_doubt,
                std::chrono::seconds patience) {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + patience;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  milliseconds ceiling = kFirstPause;
  // Full jitter: a pause anywhere up to the ceiling, which doubles up to kMaxPause.
  auto pause = [&] {
    std::uniform_int_distribution<std::int64_t> draw(0, ceiling.count());
    std::this_thread::sleep_for(milliseconds(draw(rng)));
    ceiling = std::min(ceiling * 2, kMaxPause);
  };
  while (true) {
    if (!db.healthy()) {
      if (auto st = db.reconnect(); !st) {
        if (!is_retryable(st.error().kind) || steady_clock::now() + ceiling > deadline) return st;
        pause();
        continue;
      }
    }
    Status st = attempt();
    if (st) return st;
    const bool again = is_retryable(st.error().kind) ||
                       (replay_in_doubt && st.error().kind == ErrorKind::kInDoubt);
    if (!again || steady_clock::now() + ceiling > deadline) return st;
    pause();
  }
}

}  // namespace rehome::pg
