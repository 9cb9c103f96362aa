#include "s3/concurrency_control.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace rehome::s3 {

namespace {

using Seconds = std::chrono::duration<double>;

ConcurrencyOptions checked(ConcurrencyOptions options) {
  if (options.initial == 0 || options.ceiling == 0) {
    throw std::invalid_argument("ConcurrencyControl: initial and ceiling must be > 0");
  }
  options.initial = std::min(options.initial, options.ceiling);
  return options;
}

}  // namespace

ConcurrencyControl::ConcurrencyControl(ConcurrencyOptions options, Clock::time_point now)
    : options_(checked(options)), limit_(options_.initial), window_start_(now) {}

void ConcurrencyControl::on_start(std::size_t in_flight) {
  peak_in_flight_ = std::max(peak_in_flight_, in_flight);
}

void ConcurrencyControl::on_answer(Clock::time_point now, Clock::duration latency,
                                   double rate_limit) {
  ++answers_;
  latency_sum_ += std::max(0.0, Seconds(latency).count());
  // A window must hold whole round trips: on a slow link 500 ms may not see one request through.
  const auto length = std::max<Clock::duration>(
      kWindow, std::chrono::duration_cast<Clock::duration>(Seconds(2 * last_latency_)));
  // Too few answers say too little: the window stays open until it has enough.
  if (now - window_start_ >= length && answers_ >= kMinSamples) close_window(now, rate_limit);
}

void ConcurrencyControl::close_window(Clock::time_point now, double rate_limit) {
  const double seconds = Seconds(now - window_start_).count();
  const std::uint64_t answers = answers_;
  const double mean = answers > 0 ? latency_sum_ / static_cast<double>(answers) : 0;
  const double rate = static_cast<double>(answers) / seconds;
  const bool capped = peak_in_flight_ >= limit_;
  window_start_ = now;
  answers_ = 0;
  latency_sum_ = 0;
  peak_in_flight_ = 0;
  last_latency_ = mean;

  if (rate_limit > 0) {
    // Little's law with headroom: what the allowed rate needs at the latency seen now.
    probe_ = Probe::kNone;
    const auto needed = static_cast<std::size_t>(std::ceil(kHeadroom * rate_limit * mean)) + kSlack;
    limit_ = std::clamp(needed, options_.initial, options_.ceiling);
    return;
  }
  switch (probe_) {
    case Probe::kSettling:  // the window the cap changed in mixes both caps
      probe_ = Probe::kMeasuring;
      return;
    case Probe::kMeasuring:
      probe_ = Probe::kNone;
      if (rate < kGain * rate_before_) {
        limit_ = probe_from_;  // the server, not the latency, was the bound
        hold_until_ = now + kHold;
        return;
      }
      break;  // it paid: probe further at once
    case Probe::kNone: break;
  }
  if (capped && now >= hold_until_ && limit_ < options_.ceiling) {
    probe_from_ = limit_;
    rate_before_ = rate;
    limit_ = std::min(options_.ceiling, limit_ * 2);
    probe_ = Probe::kSettling;
  }
}

}  // namespace rehome::s3
