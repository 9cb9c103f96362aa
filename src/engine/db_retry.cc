#include "engine/db_retry.h"

#include <algorithm>
#include <thread>

namespace rehome::engine {

Status retry_db(pg::Connection& db, const std::function<Status()>& attempt, bool replay_in_doubt,
                std::chrono::seconds patience) {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + patience;
  milliseconds pause{100};
  while (true) {
    if (!db.healthy()) {
      if (auto st = db.reconnect(); !st) {
        if (!is_retryable(st.error().kind) || steady_clock::now() + pause > deadline) return st;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, milliseconds(5000));
        continue;
      }
    }
    Status st = attempt();
    if (st) return st;
    bool again = is_retryable(st.error().kind) ||
                 (replay_in_doubt && st.error().kind == ErrorKind::kInDoubt);
    if (!again || steady_clock::now() + pause > deadline) return st;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(5000));
  }
}

}  // namespace rehome::engine
