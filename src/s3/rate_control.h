// How fast to send when the server throttles: a pure state machine (the time is passed in), so
// that its decisions are table-tested with a fake clock and only its speed is a benchmark's.
//
// Unthrottled, it does not limit (the in-flight cap does). At the first 503 SlowDown it starts
// limiting, and from then on:
//  - a throttle cuts the limit to beta (0.85) of the rate the server *accepted* (successes per
//    second, smoothed), never of what was sent: what was refused says nothing about capacity.
//    One burst of 503s is one signal (a cooling period of 0.2 s);
//  - between throttles the limit grows along a cubic curve (CUBIC's, scale-free: in fractions
//    of that accepted rate, so the same constants serve 50 requests/s and 5,000): it climbs back
//    to 0.95 of the accepted rate in 0.6 s, holds there 2 s (a steady rate just under the limit
//    is what makes S3 add partitions; the peak may include credit a token bucket had saved, and
//    an overshoot is hidden until that credit is spent), reaches the accepted rate 1.4 s later,
//    then probes ever faster above it, which finds a limit that rose within about 7 s;
//  - the limit never runs more than twice ahead of what is actually being sent (botocore's
//    rule), so an idle spell does not bank a burst.
// A cut from below the previous peak lowers the peak further (CUBIC's fast convergence): of
// several processes sharing one limit, the ones above their share give up more. A 503 to a
// request sent before the last cut is no new signal (one cut per round trip, as TCP), and the
// limit also climbs by at least 5 t^2 requests/s whatever the peak once past the plateau, so a
// cut measured in a quiet phase is outgrown in seconds.
// Chosen on a simulation of a token-bucket prefix (bench/results, PERFORMANCE.md) and measured on
// bench/s3model.py.
#pragma once

#include <chrono>
#include <cstdint>

namespace rehome::s3 {

struct RateControlOptions {
  double max_rps = 0;  ///< Hard cap (--max-rps); 0 = none.
  double min_rps = 1;  ///< Throttling never pushes the limit below this.
};

class RateControl {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr double kBeta = 0.85;
  static constexpr double kCubic = 0.02;  ///< Growth, in fractions of the peak per second cubed.
  static constexpr std::chrono::milliseconds kCoolingPeriod{200};
  static constexpr std::chrono::milliseconds kRateWindow{500};
  /// How long the limit holds at kPlateauLevel of the peak on its way back, before going on to
  /// the peak and above it.
  static constexpr std::chrono::seconds kPlateau{2};
  static constexpr double kPlateauLevel = 0.95;
  /// Past the plateau the limit is at least peak + this x t^2 (t in seconds): requests per
  /// second gained, whatever the peak.
  static constexpr double kAbsoluteGrowth = 5;

  RateControl(RateControlOptions options, Clock::time_point now);

  /// A request was sent.
  void on_send(Clock::time_point now);
  /// The server took a request (any answer but a throttle).
  void on_accepted(Clock::time_point now);
  /// The server throttled a request sent at `sent_at`. Returns true when it cut the limit
  /// (false for a request sent before the last cut, or within its cooling period: the same
  /// burst).
  bool on_throttled(Clock::time_point now, Clock::time_point sent_at);

  /// Starts limiting at `rps` as if a cut had just happened there (the climb back, the plateau,
  /// then probing above it): a worker joining others that share one server's limit starts at
  /// its share of what they are allowed, instead of finding the limit with a burst of 503s.
  /// Never below what the server already accepts from this one: a worker running at full
  /// speed is not cut to a share, only held where it is (the curve starts at beta of it and is
  /// back within seconds, as after a cut: a dip of a few percent, then probing above).
  /// Ignored (false) once limiting (the server has spoken) or for a rate that is not positive.
  bool start_at(double rps, Clock::time_point now);
  /// True once the limit follows the server (a throttle, or start_at), not only --max-rps.
  bool limiting() const { return limiting_; }
  /// Requests per second allowed now; 0 = no limit.
  double limit(Clock::time_point now) const;
  /// Smoothed rates, per second.
  double sent_rate() const { return sent_rate_; }
  double accepted_rate() const { return accepted_rate_; }
  std::uint64_t cuts() const { return cuts_; }

 private:
  struct Meter {
    Clock::time_point window_start;
    std::uint64_t count = 0;
  };
  void tick(Clock::time_point now);
  double current_accepted(Clock::time_point now) const;
  double current_sent(Clock::time_point now) const;

  RateControlOptions options_;
  bool limiting_ = false;
  double peak_ = 0;       // The accepted rate at the last cut (w_max), after fast convergence.
  double last_peak_ = 0;  // Before fast convergence: the previous cut's measurement.
  Clock::time_point epoch_{};
  Clock::time_point last_cut_{};
  std::uint64_t cuts_ = 0;
  Clock::time_point window_start_;
  std::uint64_t window_sent_ = 0;
  std::uint64_t window_accepted_ = 0;
  double sent_rate_ = 0;
  double accepted_rate_ = 0;
};

}  // namespace rehome::s3
