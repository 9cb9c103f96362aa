// How many requests to keep in flight: a pure state machine (the time is passed in), table-tested
// with a fake clock like rate_control.h, whose limit it follows.
//
// By Little's law the requests in flight are the rate times the latency: 3,500 copies/s at 50 ms
// need 175 in flight, so no fixed number serves both a co-located server (where more in flight
// only queues) and a distant one (where too few caps the rate). The cap is sized from what is
// measured, one window at a time (500 ms, or two mean latencies when those are longer):
//  - while the rate control limits (a throttle was seen, or --max-rps): room for twice the
//    limit times the server's unloaded latency (the least window mean of the last 30 s), plus
//    a few. The rate control spaces the starts; the cap only has to keep out of its way, and it
//    bounds the pile-up when the server slows (sized from the latency seen now, it would grow
//    with every window on a server whose latency grows with the load);
//  - while nothing limits the rate and the cap was full the whole window: probe. The cap
//    doubles; one window settles, the next is measured. If it answered at least 1.25 times the
//    rate (a distant server: latency, not capacity, was the bound), keep it and probe again;
//    otherwise the server was the bound and more in flight would only queue there: back to the
//    previous cap, and no new probe for 10 s.
// Without a rate limit the cap never shrinks: a probe kept because it seemed to pay (at the
// start, connection set-up slows the first windows) stays until the job ends.
// It never goes below `initial` (the cap a job starts with: 128, or --concurrency) and never
// above `ceiling` (the memory budget for requests in flight, or --concurrency).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace rehome::s3 {

struct ConcurrencyOptions {
  std::size_t initial = 128;  ///< Starting cap and floor.
  std::size_t ceiling = 512;  ///< Never more in flight (memory budget, or the hard cap).
};

class ConcurrencyControl {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr std::chrono::milliseconds kWindow{500};
  /// A doubled cap is kept when it answers at least this multiple of the rate before it.
  static constexpr double kGain = 1.25;
  /// After a probe that did not pay, the next one waits this long.
  static constexpr std::chrono::seconds kHold{10};
  /// Room over rate x latency while the rate is limited.
  static constexpr double kHeadroom = 2.0;
  static constexpr std::size_t kSlack = 8;
  /// A window counts as at the cap when this share of its answers found the cap full.
  static constexpr double kCappedShare = 0.9;
  /// The unloaded latency is the least window mean of this long.
  static constexpr std::chrono::seconds kBaseHorizon{30};
  /// A window closes with at least this many answers (it stays open longer otherwise).
  static constexpr std::uint64_t kMinSamples = 8;

  ConcurrencyControl(ConcurrencyOptions options, Clock::time_point now);

  /// A request started; `in_flight` counts it.
  void on_start(Clock::time_point now, std::size_t in_flight);
  /// The server took a request after `latency`, with `in_flight` requests out (this one
  /// included). `rate_limit` is the rate control's limit at this moment (0 = none). Throttled
  /// requests are not reported: their answers come fast and would understate the latency.
  void on_answer(Clock::time_point now, Clock::duration latency, std::size_t in_flight,
                 double rate_limit);

  std::size_t limit() const { return limit_; }
  /// The last full window's mean latency, in seconds.
  double latency() const { return last_latency_; }
  /// The least window mean of the last 30 s, in seconds; 0 before the first window.
  double base_latency() const;

 private:
  void close_window(Clock::time_point now, double rate_limit);
  void restart_window(Clock::time_point now);

  ConcurrencyOptions options_;
  std::size_t limit_;
  Clock::time_point window_start_;
  std::uint64_t answers_ = 0;
  double latency_sum_ = 0;
  std::uint64_t at_cap_ = 0;  // answers that found the cap full
  double last_latency_ = 0;
  struct Sample {
    Clock::time_point at;
    double latency;
  };
  std::deque<Sample> recent_;  // window means of the last kBaseHorizon
  enum class Probe { kNone, kSettling, kMeasuring };
  Probe probe_ = Probe::kNone;
  std::size_t probe_from_ = 0;
  double rate_before_ = 0;
  Clock::time_point hold_until_{};
};

}  // namespace rehome::s3
