#include "engine/progress.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace rehome::engine {

Progress::Progress(std::FILE* out, bool terminal, const Summary& summary,
                   std::function<void()> refresh)
    : out_(out),
      terminal_(terminal),
      summary_(summary),
      refresh_(std::move(refresh)),
      started_(std::chrono::steady_clock::now()) {}

void Progress::report(const char* phase) {
  if (!out_) return;
  using namespace std::chrono;
  const auto now = steady_clock::now();
  const auto every = terminal_ ? milliseconds(500) : milliseconds(5000);
  if (printed_ && now - last_ < every) return;
  last_ = now;
  printed_ = true;
  if (refresh_) refresh_();
  const double elapsed = duration<double>(now - started_).count();
  const auto& s = summary_;
  const std::uint64_t settled = s.objects_copied + s.objects_already_copied + s.objects_conflict +
                                s.objects_missing + s.objects_failed;
  const double rate = elapsed > 0 ? static_cast<double>(settled) / elapsed : 0;
  // The legacy rows counted at the start stand in for the number of objects: the listing
  // does not say how many keys it will yield.
  const auto total = std::max<std::uint64_t>(s.rows_total_legacy, settled);
  const double eta = rate > 0 && total > settled ? static_cast<double>(total - settled) / rate : 0;
  const std::uint64_t errors = s.objects_failed + s.objects_conflict;
  if (terminal_) {
    fmt::print(out_,
               "\r\033[K{}: {}/~{} objects, {} rows rewritten, {:.0f} objects/s, ETA {:.0f}s, "
               "{} retries ({} throttled), {} problems",
               phase, settled, total, s.rows_rewritten, rate, eta, s.retries, s.throttled, errors);
  } else {
    nlohmann::json line = {{"event", "progress"},
                           {"phase", phase},
                           {"elapsed_s", elapsed},
                           {"objects_settled", settled},
                           {"objects_estimate", total},
                           {"objects_copied", s.objects_copied},
                           {"rows_rewritten", s.rows_rewritten},
                           {"objects_per_s", rate},
                           {"eta_s", eta},
                           {"retries", s.retries},
                           {"throttled", s.throttled},
                           {"problems", errors}};
    fmt::print(out_, "{}\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  std::fflush(out_);
}

void Progress::finish() {
  if (out_ && terminal_ && printed_) {
    fmt::print(out_, "\n");
    std::fflush(out_);
  }
}

}  // namespace rehome::engine
