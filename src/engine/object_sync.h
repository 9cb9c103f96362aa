// Phase 1 of `run`: every object under the legacy prefix gets an identical twin in production.
// The legacy and production listings are merged in key order (no HEAD per object): an object
// whose twin is identical is recorded as copied, a differing twin as a conflict, and the rest
// are copied concurrently on the event loop. Outcomes are recorded in PostgreSQL in key order
// together with a watermark, so a killed run resumes after the last recorded key and repeats
// at most the copies that were in flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/lister.h"

namespace rehome::engine {

class ObjectSync {
 public:
  explicit ObjectSync(Context& context);

  /// Settles again the objects earlier runs left as conflict or failed (they may have been
  /// resolved since), then merges the listings from the watermark on. Drives the loop until
  /// done, stopped, or a fatal error (returned).
  Status run();

 private:
  struct Slot {
    std::string key;
    bool done = false;
    std::optional<CopyOutcome> outcome;
  };

  Status recheck_earlier_problems();
  void pump();
  void start(s3::ObjectInfo legacy, std::optional<s3::ObjectInfo> twin);
  void complete(std::uint64_t sequence, CopyOutcome outcome);
  void drain_window();
  void flush(bool final);
  bool finished() const;

  Context& ctx_;
  std::optional<Lister> legacy_list_;
  std::optional<Lister> production_list_;
  std::deque<Slot> window_;       // In key order; front is the oldest unfinished or unrecorded.
  std::uint64_t window_base_ = 0;  // Sequence number of window_.front().
  std::size_t in_flight_ = 0;
  std::vector<ObjectRecord> pending_;  // Outcomes drained from the window, not yet recorded.
  std::optional<std::string> watermark_;
  std::chrono::steady_clock::time_point last_flush_;
  bool listing_done_ = false;
  bool stopping_ = false;
  bool pumping_ = false;
  std::optional<Error> fatal_;
};

}  // namespace rehome::engine
