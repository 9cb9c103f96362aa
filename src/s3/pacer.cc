// Pacing in numbers (all per pacer, i.e. per endpoint):
//  - Rate: a token bucket refilled at the current limit (RateControl's), holding at most 50 ms
//    of tokens (at least one), so starts are spread out instead of bunched at each refill.
//  - Cut and recovery: rate_control.h.
#include "s3/pacer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace rehome::s3 {

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr double kBurstSeconds = 0.05;

ConcurrencyOptions concurrency_options(const PacerOptions& options) {
  if (options.max_in_flight > 0) return {options.max_in_flight, options.max_in_flight};
  if (options.ceiling == 0) throw std::invalid_argument("Pacer: ceiling must be > 0");
  return {kInitialInFlight, options.ceiling};
}

RateControlOptions control_options(const PacerOptions& options) {
  if (options.max_rps < 0) throw std::invalid_argument("Pacer: max_rps must be >= 0");
  if (options.min_rps <= 0) throw std::invalid_argument("Pacer: min_rps must be > 0");
  return {options.max_rps, options.min_rps};
}

}  // namespace

Pacer::Pacer(http::Loop& loop, PacerOptions options)
    : loop_(loop),
      options_(options),
      control_(control_options(options), Clock::now()),
      concurrency_(concurrency_options(options), Clock::now()) {
  const auto now = Clock::now();
  tokens_ = burst(control_.limit(now));
  last_refill_ = now;
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
  pump();
}

void Pacer::pump() {
  while (!waiting_.empty() && in_flight_ < concurrency_.limit()) {
    const auto now = Clock::now();
    const double rate = control_.limit(now);
    if (rate > 0) {
      refill(now);
      if (tokens_ < 1) {
        if (!timer_armed_) {
          auto wait = std::chrono::ceil<std::chrono::milliseconds>(Seconds((1 - tokens_) / rate));
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
    control_.on_send(now);
    concurrency_.on_start(now, in_flight_);
    stats_.peak_in_flight = std::max(stats_.peak_in_flight, in_flight_);
    start();
  }
}

double Pacer::burst(double rate) const {
  return rate > 0 ? std::max(1.0, rate * kBurstSeconds) : 0;
}

void Pacer::refill(Clock::time_point now) {
  const double rate = control_.limit(now);
  if (rate > 0) {
    tokens_ = std::min(burst(rate), tokens_ + rate * Seconds(now - last_refill_).count());
  }
  last_refill_ = now;
}

void Pacer::on_throttled(Clock::time_point sent_at) {
  const auto now = Clock::now();
  refill(now);  // settle the tokens earned under the old limit
  if (!control_.on_throttled(now, sent_at)) return;
  // The cut takes effect now, not after the tokens banked under the old limit are spent.
  tokens_ = std::min(tokens_, burst(control_.limit(now)));
  ++stats_.throttle_events;
}

void Pacer::on_success(Clock::time_point sent_at) {
  const auto now = Clock::now();
  control_.on_accepted(now);
  concurrency_.on_answer(now, now - sent_at, in_flight_, control_.limit(now));
}

void Pacer::start_at(double rps) {
  const auto now = Clock::now();
  refill(now);  // settle the tokens earned while unlimited
  if (!control_.start_at(rps, now)) return;
  tokens_ = std::min(tokens_, burst(control_.limit(now)));
}

PacerStats Pacer::stats() const {
  PacerStats out = stats_;
  out.current_rps_limit = control_.limit(Clock::now());
  out.server_limited = control_.limiting();
  return out;
}

}  // namespace rehome::s3
