// Paces every S3 request of the job through one gate: at most max_in_flight at once, at most
// max_rps per second, and when the server throttles (503 SlowDown) the allowed rate drops for
// the whole job, not just for the request that was refused (additive increase, multiplicative
// decrease). Waiting is a loop timer, never a sleep.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "http/loop.h"

namespace rehome::s3 {

struct PacerOptions {
  std::size_t max_in_flight = 64;  ///< Requests in flight across every client sharing the pacer.
  double max_rps = 0;              ///< Hard cap on request starts per second; 0 = none.
  double min_rps = 1;              ///< Throttling never pushes the rate below this.
};

struct PacerStats {
  std::uint64_t started = 0;
  std::uint64_t throttle_events = 0;  ///< Times the rate was cut because of throttling.
  double current_rps_limit = 0;       ///< 0 = unlimited.
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

  /// The server throttled a request: cut the rate (at most once per cooling period).
  void on_throttled();
  /// A request succeeded: let the rate creep back up towards max_rps.
  void on_success();

  std::size_t in_flight() const { return in_flight_; }
  std::size_t waiting() const { return waiting_.size(); }
  PacerStats stats() const;

 private:
  void pump();
  double allowed_rps() const;
  void refill(std::chrono::steady_clock::time_point now);
  double burst() const;
  void count_completion(std::chrono::steady_clock::time_point now);
  double completion_rate(std::chrono::steady_clock::time_point now) const;

  http::Loop& loop_;
  PacerOptions options_;
  std::deque<std::function<void()>> waiting_;
  std::size_t in_flight_ = 0;
  double rps_limit_ = 0;  // 0 = unlimited
  double tokens_ = 0;
  std::chrono::steady_clock::time_point last_refill_;
  std::chrono::steady_clock::time_point last_cut_;
  bool timer_armed_ = false;
  http::TimerId timer_id_ = 0;
  // The rate the limit climbs back to: max_rps, or the observed rate when throttling began.
  double ceiling_rps_ = 0;
  PacerStats stats_;
  // Completed requests per second, smoothed: where the first cut starts from when unlimited.
  double observed_rps_ = 0;
  std::chrono::steady_clock::time_point window_start_;
  std::uint64_t window_count_ = 0;
};

}  // namespace rehome::s3
