// Pacing in numbers (all per pacer, i.e. per job):
//  - Rate: a token bucket refilled at the current limit, holding at most 50 ms of tokens
//    (at least one), so starts are spread out instead of bunched at each refill.
//  - Cut: on throttling the limit halves (from the unlimited state: half the completion rate
//    observed so far), at most once per 1 s so one burst of 503s counts as one signal, and
//    never below min_rps.
//  - Recovery: each success adds ceiling / (20 * limit). At `limit` successes a second that
//    is ceiling / 20 per second, whatever the scale: back from half to full in ~10 s, from
//    min_rps in ~20 s. The ceiling is max_rps, or without one the rate observed when
//    throttling began; reaching that observed ceiling returns the pacer to unlimited (after
//    about 3/8 * 20 * ceiling successes from a single cut), and a renewed 503 cuts again.
#include "s3/pacer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace rehome::s3 {

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr auto kCoolingPeriod = std::chrono::seconds(1);
constexpr double kCutFactor = 0.5;
constexpr double kRecoverySeconds = 20.0;
constexpr double kBurstSeconds = 0.05;
constexpr auto kRateWindow = std::chrono::seconds(1);
// A rate measured over less than this is too noisy to act on; the window is stretched to it.
constexpr double kShortestWindowSeconds = 0.1;

}  // namespace

Pacer::Pacer(http::Loop& loop, PacerOptions options) : loop_(loop), options_(options) {
  if (options_.max_in_flight == 0) throw std::invalid_argument("Pacer: max_in_flight must be > 0");
  if (options_.max_rps < 0) throw std::invalid_argument("Pacer: max_rps must be >= 0");
  if (options_.min_rps <= 0) throw std::invalid_argument("Pacer: min_rps must be > 0");
  if (options_.max_rps > 0) options_.min_rps = std::min(options_.min_rps, options_.max_rps);
  const auto now = Clock::now();
  rps_limit_ = options_.max_rps;
  ceiling_rps_ = options_.max_rps;
  tokens_ = burst();
  last_refill_ = now;
  last_cut_ = now;
  window_start_ = now;
}

Pacer::~Pacer() {
  if (timer_armed_) loop_.cancel(timer_id_);
}

void Pacer::acquire(std::function<void()> start) {
  if (!start) throw std::invalid_argument("Pacer::acquire: empty start function");
  waiting_.push_back(std::move(start));
  pump();
}

void Pacer::release() {
  if (in_flight_ == 0) throw std::logic_error("Pacer::release without a matching start");
  --in_flight_;
  count_completion(Clock::now());
  pump();
}

void Pacer::pump() {
  while (!waiting_.empty() && in_flight_ < options_.max_in_flight) {
    if (allowed_rps() > 0) {
      refill(Clock::now());
      if (tokens_ < 1) {
        if (!timer_armed_) {
          auto wait =
              std::chrono::ceil<std::chrono::milliseconds>(Seconds((1 - tokens_) / allowed_rps()));
          timer_armed_ = true;
          timer_id_ = loop_.after(std::max(wait, std::chrono::milliseconds(1)), [this] {
            timer_armed_ = false;
            pump();
          });
        }
        return;
      }
      tokens_ -= 1;
    }
    // Count the start before running it: `start` may acquire again (and so re-enter pump).
    std::function<void()> start = std::move(waiting_.front());
    waiting_.pop_front();
    ++in_flight_;
    ++stats_.started;
    start();
  }
}

double Pacer::allowed_rps() const { return rps_limit_; }

double Pacer::burst() const {
  return rps_limit_ > 0 ? std::max(1.0, rps_limit_ * kBurstSeconds) : 0;
}

void Pacer::refill(Clock::time_point now) {
  if (rps_limit_ > 0) {
    tokens_ = std::min(burst(), tokens_ + rps_limit_ * Seconds(now - last_refill_).count());
  }
  last_refill_ = now;
}

void Pacer::count_completion(Clock::time_point now) {
  if (now - window_start_ >= kRateWindow) {
    double rate = static_cast<double>(window_count_) / Seconds(now - window_start_).count();
    // Smooth over windows so one slow second does not define the rate.
    observed_rps_ = observed_rps_ > 0 ? (observed_rps_ + rate) / 2 : rate;
    window_start_ = now;
    window_count_ = 0;
  }
  ++window_count_;
}

double Pacer::completion_rate(Clock::time_point now) const {
  if (observed_rps_ > 0) return observed_rps_;
  double seconds = std::max(Seconds(now - window_start_).count(), kShortestWindowSeconds);
  return static_cast<double>(window_count_) / seconds;
}

void Pacer::on_throttled() {
  const auto now = Clock::now();
  if (stats_.throttle_events > 0 && now - last_cut_ < kCoolingPeriod) return;
  refill(now);  // settle the tokens earned under the old limit
  if (rps_limit_ > 0) {
    rps_limit_ = std::max(options_.min_rps, rps_limit_ * kCutFactor);
  } else {
    double observed = completion_rate(now);
    ceiling_rps_ = std::max(observed, options_.min_rps);
    rps_limit_ = std::max(options_.min_rps, observed * kCutFactor);
    tokens_ = 0;  // the cut takes effect now, not after a burst
  }
  tokens_ = std::min(tokens_, burst());
  last_cut_ = now;
  ++stats_.throttle_events;
}

void Pacer::on_success() {
  if (rps_limit_ <= 0 || ceiling_rps_ <= 0) return;
  if (rps_limit_ >= ceiling_rps_) return;
  rps_limit_ += ceiling_rps_ / (kRecoverySeconds * rps_limit_);
  if (rps_limit_ >= ceiling_rps_) {
    // Without max_rps the ceiling was only an observation: past it, stop limiting.
    rps_limit_ = options_.max_rps > 0 ? options_.max_rps : 0;
    ceiling_rps_ = options_.max_rps;
  }
}

PacerStats Pacer::stats() const {
  PacerStats out = stats_;
  out.current_rps_limit = rps_limit_;
  return out;
}

}  // namespace rehome::s3
