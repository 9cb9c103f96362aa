// Paces every S3 request sent to one endpoint through one gate: a rate and a number in flight.
// When the server throttles (503 SlowDown) the allowed rate follows the server's for every
// request to that endpoint, not just for the one refused (rate_control.h: cut to a share of
// what the server accepted, then a cubic climb that holds near it and probes above). The number
// in flight follows the rate and the measured latency (concurrency_control.h: Little's law),
// up to a memory budget; --max-rps and --concurrency are hard caps on both. Waiting is a loop
// timer, never a sleep.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "http/loop.h"
#include "s3/concurrency_control.h"
#include "s3/rate_control.h"

namespace rehome::s3 {

/// Requests in flight at most when no hard cap is given: the memory budget (about 64 KiB each at
/// most, a TLS connection's buffers and the curl handle: 32 MiB), and 10,000 requests/s at 50 ms.
inline constexpr std::size_t kInFlightCeiling = 512;
/// Requests in flight at first, and at least, when no hard cap is given.
inline constexpr std::size_t kInitialInFlight = 128;

struct PacerOptions {
  /// Hard cap on requests in flight across every client sharing the pacer (--concurrency); 0 =
  /// sized from rate and latency between kInitialInFlight and kInFlightCeiling.
  std::size_t max_in_flight = 0;
  /// Without a hard cap: the most in flight (kInFlightCeiling, or less where open files are
  /// scarce).
  std::size_t ceiling = kInFlightCeiling;
  double max_rps = 0;  ///< Hard cap on request starts per second; 0 = none.
  double min_rps = 1;  ///< Throttling never pushes the rate below this.
};

struct PacerStats {
  std::uint64_t started = 0;
  std::uint64_t throttle_events = 0;  ///< Times the rate was cut because of throttling.
  double current_rps_limit = 0;       ///< 0 = unlimited (--max-rps when only it limits).
  /// True when the limit follows the server (it throttled, or RateControl::start_at).
  bool server_limited = false;
  std::size_t peak_in_flight = 0;  ///< The most requests in flight at once.
};

class Pacer {
 public:
  Pacer(http::Loop& loop, PacerOptions options);
  /// Cancels the pacer's pending timer; requests still waiting are dropped, never started.
  ~Pacer();
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  /// Runs `start` (on the loop) once a slot and a rate token are free: at once when possible,
  /// otherwise in FIFO order from a timer or a release(). Each start must be paired with
  /// exactly one release() when its request completes.
  void acquire(std::function<void()> start);
  /// Frees the slot of a completed request and starts the next waiting one if allowed.
  void release();

  /// The server throttled a request sent at `sent_at`: cut the rate (once per burst).
  void on_throttled(std::chrono::steady_clock::time_point sent_at);
  /// The server took a request sent at `sent_at` (any answer but a throttle): the rate it takes
  /// is what a cut starts from, its latency what the number in flight is sized from.
  void on_success(std::chrono::steady_clock::time_point sent_at);
  /// Starts limiting at `rps` (RateControl::start_at): this worker's share of a limit others
  /// found. Cheap, and nothing changes, once limiting.
  void start_at(double rps);
  /// Requests allowed in flight now.
  std::size_t in_flight_limit() const { return concurrency_.limit(); }

  std::size_t in_flight() const { return in_flight_; }
  std::size_t waiting() const { return waiting_.size(); }
  PacerStats stats() const;

 private:
  void pump();
  void refill(std::chrono::steady_clock::time_point now);
  double burst(double rate) const;

  http::Loop& loop_;
  PacerOptions options_;
  RateControl control_;
  ConcurrencyControl concurrency_;
  std::deque<std::function<void()>> waiting_;
  std::size_t in_flight_ = 0;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point last_refill_;
  bool timer_armed_ = false;
  http::TimerId timer_id_ = 0;
  PacerStats stats_;
};

}  // namespace rehome::s3
