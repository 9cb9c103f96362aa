#include "s3/rate_control.h"

#include <algorithm>
#include <cmath>

namespace rehome::s3 {

namespace {

using Seconds = std::chrono::duration<double>;

}  // namespace

RateControl::RateControl(RateControlOptions options, Clock::time_point now)
    : options_(options), window_start_(now) {
  // A floor of 0 would let the limit reach 0, which the pacer reads as "no limit".
  if (!(options_.min_rps > 0)) options_.min_rps = 1;
  if (options_.max_rps > 0) options_.min_rps = std::min(options_.min_rps, options_.max_rps);
}

// Rates are counted in windows of kRateWindow and smoothed by time (a window's weight grows
// with its length: half for a window of kRateWindow, nearly all for a long quiet spell), so a
// burst of one window does not define them and a stale rate fades.
void RateControl::tick(Clock::time_point now) {
  const double elapsed = Seconds(now - window_start_).count();
  const double window = Seconds(kRateWindow).count();
  if (elapsed < window) return;
  const double sent = static_cast<double>(window_sent_) / elapsed;
  const double accepted = static_cast<double>(window_accepted_) / elapsed;
  const double weight = 1 - std::pow(0.5, elapsed / window);
  sent_rate_ = sent_rate_ > 0 ? sent_rate_ + weight * (sent - sent_rate_) : sent;
  accepted_rate_ =
      accepted_rate_ > 0 ? accepted_rate_ + weight * (accepted - accepted_rate_) : accepted;
  window_start_ = now;
  window_sent_ = 0;
  window_accepted_ = 0;
}

void RateControl::on_send(Clock::time_point now) {
  tick(now);
  ++window_sent_;
}

void RateControl::on_accepted(Clock::time_point now) {
  tick(now);
  ++window_accepted_;
}

// The smoothed rate, or what the current window has counted so far when that is higher (a
// burst after a quiet phase: the start-up's few listings, a slow planning). A window is read
// over at least a tenth of a second, so a first 503 after a few milliseconds does not read as a
// huge rate.
double RateControl::current_accepted(Clock::time_point now) const {
  const double elapsed = std::max(Seconds(now - window_start_).count(), 0.1);
  return std::max(accepted_rate_, static_cast<double>(window_accepted_) / elapsed);
}

double RateControl::current_sent(Clock::time_point now) const {
  const double elapsed = std::max(Seconds(now - window_start_).count(), 0.1);
  return std::max(sent_rate_, static_cast<double>(window_sent_) / elapsed);
}

bool RateControl::on_throttled(Clock::time_point now, Clock::time_point sent_at) {
  tick(now);
  // One cut per burst: a 503 to a request sent before the last cut (still answering for the
  // old rate, on a slow link for a whole round trip) or within the cooling period says nothing
  // new.
  if (cuts_ > 0 && (sent_at < last_cut_ || now - last_cut_ < kCoolingPeriod)) return false;
  double base = current_accepted(now);
  // Throttled before anything was accepted (the job's first requests): half of what was sent is
  // the only estimate there is; the next cut starts from what the server accepts.
  if (base <= 0) base = current_sent(now) / 2;
  if (limiting_) base = std::min(base, limit(now));
  // Fast convergence: a peak lower than the last one means the capacity shrank, or others share
  // it; giving up more than the cut leaves them room.
  const double measured = base;
  if (limiting_ && measured < last_peak_) base = measured * (1 + kBeta) / 2;
  last_peak_ = measured;
  peak_ = std::max(base, options_.min_rps);
  epoch_ = now;
  last_cut_ = now;
  limiting_ = true;
  ++cuts_;
  return true;
}

bool RateControl::start_at(double rps, Clock::time_point now) {
  if (limiting_ || !(rps > 0)) return false;
  tick(now);  // the accepted rate as of now, not as of the last request (a quiet spell)
  peak_ = std::max({rps, current_accepted(now), options_.min_rps});
  if (options_.max_rps > 0) peak_ = std::min(peak_, options_.max_rps);
  last_peak_ = peak_;
  epoch_ = now;
  limiting_ = true;  // not a cut: the first 503 still cuts at once, whenever it comes
  return true;
}

double RateControl::limit(Clock::time_point now) const {
  if (!limiting_) return options_.max_rps;
  // W(t) = peak * (1 + c (t - K)^3), with K such that W(0) = beta * peak; the curve's clock
  // stops for kPlateau where W is kPlateauLevel of the peak. The peak is what the server took
  // when it refused, and a token bucket (S3's prefix) lets a client take more than its limit
  // while the credit it saved lasts, so the peak may be above the limit; and an overshoot is
  // hidden until that credit is spent, by when a curve still climbing is far above. Holding a
  // little below the peak first makes each probe rarer and costs little (a steady rate near
  // the limit is also what makes S3 add partitions).
  const double k = std::cbrt((1 - kBeta) / kCubic);
  const double hold_at = k - std::cbrt((1 - kPlateauLevel) / kCubic);  // W(hold_at) = level
  const double since = Seconds(now - epoch_).count();
  const double plateau = Seconds(kPlateau).count();
  const double curve_time = since < hold_at ? since : std::max(hold_at, since - plateau);
  const double t = curve_time - k;
  const double probing = since - plateau - k;  // > 0: past the old peak, after the plateau
  double w = peak_ * (1 + kCubic * t * t * t);
  // Past the plateau, at least a climb that does not depend on the peak: a peak measured far
  // too low (a cut in a quiet phase, 1/s) is outgrown in seconds, not minutes. It starts slow
  // (5/s after 1 s) and accelerates (500/s after 10 s): at a few hundred requests per second a
  // fast straight climb would overshoot the peak, and be throttled, on every cycle.
  if (probing > 0) w = std::max(w, peak_ + kAbsoluteGrowth * probing * probing);
  // Never far ahead of what is sent: an idle spell does not bank a burst.
  w = std::min(w, std::max(2 * sent_rate_, kBeta * peak_));
  w = std::max(w, options_.min_rps);
  if (options_.max_rps > 0) w = std::min(w, options_.max_rps);
  return w;
}

}  // namespace rehome::s3
