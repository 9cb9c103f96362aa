// A listing of one prefix as a stream on the event loop: pages are fetched ahead of use (one
// page in flight at most) and held only until consumed, so memory stays at two pages however
// many millions of keys the prefix holds. An optional inclusive upper bound makes it list one
// key range (see key_ranges.h): keys beyond it are dropped and no further page is asked for.
// The bound can be lowered while the listing runs, when the range is split (range_split.h).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "engine/range_split.h"
#include "s3/api.h"

namespace rehome::engine {

class Lister {
 public:
  /// Lists `prefix` in `bucket` from just after `start_after` ("" = from the start).
  /// `on_page` runs on the loop whenever a page arrives (or the listing fails). A non-empty
  /// `last` ends the listing at that key, inclusive: the range (start_after, last].
  /// `page_size` is S3's maximum unless a test wants many pages from few keys.
  Lister(s3::Api& client, std::string bucket, std::string prefix, std::string start_after,
         std::function<void()> on_page, std::string last = {}, int page_size = kMaxPageSize);

  static constexpr int kMaxPageSize = s3::kMaxKeysPerPage;

  /// Asks for the next page when fewer than half a page is buffered and more exist.
  void prefetch();
  /// True when front() is valid or the listing is exhausted: no need to wait.
  bool ready() const { return !buffer_.empty() || exhausted(); }
  /// No buffered object and no page left to fetch.
  bool exhausted() const { return buffer_.empty() && !more_ && !in_flight_; }
  const s3::ObjectInfo& front() const { return buffer_.front(); }
  void pop() {
    consumed_ = std::move(buffer_.front().key);
    ++popped_;
    buffer_.pop_front();
  }
  /// The error that ended the listing, if one did.
  const std::optional<Error>& error() const { return error_; }
  std::uint64_t pages() const { return pages_; }
  /// A page request is in flight: the lister must outlive it (its callback comes back here).
  bool busy() const { return in_flight_; }

  /// The first and the last key received from the server ("" before the first), and how
  /// many were.
  const std::string& first_received() const { return first_received_; }
  const std::string& position() const { return keys_received_ ? start_after_ : first_received_; }
  std::uint64_t keys_received() const { return keys_received_; }
  /// The bytes met at each position of the keys received (after the prefix).
  const KeyAlphabet& alphabet() const { return alphabet_; }
  /// Pages remain to be asked for (one in flight does not count).
  bool more() const { return more_ && !error_; }
  const std::string& prefix() const { return prefix_; }
  /// The range's inclusive bound ("" = unbounded).
  const std::string& last() const { return last_; }
  /// Where the listing stands, for choosing a range to split (range_split.h). Valid while the
  /// lister lives and is not changed. Measured from the last key taken, not received: keys
  /// buffered but not yet taken can be given up too (lower_last drops them), which is what
  /// lets a range near its end still be split for a lane, or a worker, that has none.
  ListingStand stand() const {
    if (popped_ >= 2) {
      return ListingStand{prefix_,   first_received_, consumed_,
                          last_,     popped_,         (more_ || !buffer_.empty()) && !error_,
                          &alphabet_};
    }
    return ListingStand{prefix_,        first_received_, position(), last_,
                        keys_received_, more(),          &alphabet_};
  }
  /// Ends the listing at `last` (inclusive) instead: buffered keys beyond it are dropped, and a
  /// page in flight is cut there when it arrives. `last` must not be empty, and must not be
  /// below a key already popped.
  void lower_last(std::string last);

 private:
  s3::Api& client_;
  std::string bucket_;
  std::string prefix_;
  std::string start_after_;  // The last key received, once one was: where the next page starts.
  std::string last_;         // "" = unbounded.
  int page_size_;
  std::string first_received_;
  std::uint64_t keys_received_ = 0;
  std::string consumed_;  // The last key taken (pop).
  std::uint64_t popped_ = 0;
  KeyAlphabet alphabet_;
  std::string token_;
  std::function<void()> on_page_;
  std::deque<s3::ObjectInfo> buffer_;
  bool more_ = true;
  bool in_flight_ = false;
  std::optional<Error> error_;
  std::uint64_t pages_ = 0;
};

/// Where the merge of a legacy and a production listing stands for one legacy object.
struct TwinLookup {
  bool ready = false;  ///< False while the production page that decides is on its way.
  std::optional<s3::ObjectInfo> twin;  ///< Production's object with the same suffix, if any.
  /// The production listing failed before it reached the legacy object: nothing can be
  /// decided (never "no twin"), the caller stops.
  std::optional<Error> error;
};

/// One step of the merge of the two listings, which hold keys in the same order (key_map.h),
/// so no object needs a HEAD: for the legacy object whose suffix is `legacy_suffix`, skips the
/// production objects that sort before it (no legacy twin: not ours), and takes its twin off
/// `production` if there is one. When not ready, ask again once the page has arrived.
TwinLookup take_twin(std::string_view legacy_suffix, Lister& production);

}  // namespace rehome::engine
