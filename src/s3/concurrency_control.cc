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

void ConcurrencyControl::on_start(Clock::time_point now, std::size_t in_flight) {
  // The first request after an idle spell: a window that counted the idle time would read as
  // a low rate, and a probe judged against it would seem to pay.
  if (in_flight == 1) restart_window(now);
}

void ConcurrencyControl::restart_window(Clock::time_point now) {
  window_start_ = now;
  answers_ = 0;
  at_cap_ = 0;
  latency_sum_ = 0;
}

void ConcurrencyControl::on_answer(Clock::time_point now, Clock::duration latency,
                                   std::size_t in_flight, double rate_limit) {
  ++answers_;
  if (in_flight >= limit_) ++at_cap_;
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
  // At the cap the whole window through (nearly every answer found it full): only then does
  // the window's rate say what the cap delivers.
  const bool capped = static_cast<double>(at_cap_) >= kCappedShare * static_cast<double>(answers);
  restart_window(now);
  last_latency_ = mean;
  while (!recent_.empty() && now - recent_.front().at > kBaseHorizon) recent_.pop_front();
  recent_.push_back({now, mean});

  if (rate_limit > 0) {
    // Little's law with headroom: what the allowed rate needs at the server's unloaded latency
    // (the least of the recent windows). Not at the latency seen now: where the latency grows
    // with the load (a server near its capacity), sizing from it would raise the cap with every
    // window, and only pile requests up there.
    probe_ = Probe::kNone;
    const double needed = kHeadroom * rate_limit * base_latency() + static_cast<double>(kSlack);
    limit_ = static_cast<std::size_t>(std::clamp(std::ceil(needed),
                                                 static_cast<double>(options_.initial),
                                                 static_cast<double>(options_.ceiling)));
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

double ConcurrencyControl::base_latency() const {
  double least = 0;
  for (const Sample& s : recent_) least = least == 0 ? s.latency : std::min(least, s.latency);
  return least;
}

}  // namespace rehome::s3
