#include "engine/record_check.h"

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "engine/key_map.h"
#include "engine/lister.h"
#include "engine/settle_by_key.h"

namespace rehome::engine {

namespace {

constexpr int kRecordPage = 1000;
constexpr std::size_t kSettleBatch = 500;

// One key range of the job: its earlier records, read a page at a time in key order, merged
// with production's listing of the same range.
struct Lane {
  KeyRange range;  // Legacy keys (start_after, last].
  std::string after;
  std::deque<ObjectRecord> records;
  bool records_done = false;
  std::optional<Lister> production;

  bool done() const {
    return records.empty() && records_done && !(production && production->busy());
  }
};

class Checker {
 public:
  Checker(Context& ctx, std::string run_started, const StillNamed& still_named)
      : ctx_(ctx),
        run_started_(std::move(run_started)),
        still_named_(still_named),
        map_(ctx.config.legacy.prefix, ctx.config.production.prefix) {}

  Result<RecordCheck> run() {
    auto ranges = ctx_.state.ranges();
    if (!ranges) return ranges.error();
    for (const auto& r : *ranges) queued_.push_back(r.range);
    // A job begun by a version with one watermark per job planned its ranges after it: the
    // keys before the first range were recorded too. No ranges at all: one range, everything.
    if (queued_.empty() || !queued_.front().start_after.empty()) {
      queued_.push_front(
          KeyRange{"", queued_.empty() ? std::string() : queued_.front().start_after});
    }
    while (!queued_.empty() || !lanes_.empty()) {
      const bool stopping = ctx_.stop_requested();
      while (!stopping && lanes_.size() < ctx_.config.ranges && !queued_.empty()) {
        auto lane = std::make_unique<Lane>();
        lane->range = queued_.front();
        lane->after = lane->range.start_after;
        queued_.pop_front();
        lanes_.push_back(std::move(lane));
      }
      bool progressed = false;
      for (auto& lane : lanes_) {
        if (stopping) break;
        auto moved = advance(*lane);
        if (!moved) return stop_with(moved.error());
        progressed |= *moved;
      }
      std::erase_if(lanes_, [&](const auto& lane) {
        return lane->done() || (stopping && !(lane->production && lane->production->busy()));
      });
      if (stopping) queued_.clear();
      if (to_settle_.size() >= kSettleBatch) {
        if (auto st = settle(); !st) return stop_with(st.error());
      }
      if (!progressed && !lanes_.empty()) ctx_.loop.run();  // Until a page arrives.
      ctx_.report_progress("rechecking earlier copies");
    }
    // Stopped: no copy starts after SIGINT; the records keep their time, so the next run
    // checks them again.
    if (ctx_.stop_requested()) return result_;
    if (auto st = settle(); !st) return st.error();
    return result_;
  }

 private:
  // Merges as far as the listing allows; true when at least one record was judged.
  Result<bool> advance(Lane& lane) {
    bool progressed = false;
    while (true) {
      if (auto st = refill(lane); !st) return st.error();
      if (lane.records.empty()) return progressed;
      const ObjectRecord& record = lane.records.front();
      const auto suffix = KeyMap::suffix_of_listed(record.legacy_key, ctx_.config.legacy.prefix);
      TwinLookup lookup = take_twin(suffix, *lane.production);
      if (lookup.error) return *lookup.error;
      if (!lookup.ready) {
        lane.production->prefetch();
        return progressed;
      }
      ++result_.checked;
      const bool intact = lookup.twin && lookup.twin->etag == record.production_etag &&
                          lookup.twin->size == record.size;
      if (!intact) to_settle_.push_back(record.legacy_key);
      lane.records.pop_front();
      progressed = true;
    }
  }

  Status refill(Lane& lane) {
    if (!lane.records.empty() || lane.records_done) return Ok{};
    auto page = ctx_.state.copied_before(run_started_, lane.after, lane.range.last, kRecordPage);
    if (!page) return page.error();
    if (page->size() < static_cast<std::size_t>(kRecordPage)) lane.records_done = true;
    if (page->empty()) return Ok{};
    lane.after = page->back().legacy_key;
    for (auto& record : *page) lane.records.push_back(std::move(record));
    if (!lane.production) {
      // The listing starts where the range does (keys map in order, key_map.h) and stops at
      // its end; a range with no earlier record is never listed.
      auto bound = [&](const std::string& legacy) {
        return legacy.empty() ? std::string() : map_.to_production(legacy).value_or("");
      };
      lane.production.emplace(
          ctx_.production, ctx_.config.production.bucket, ctx_.config.production.prefix,
          bound(lane.range.start_after), [this] { ctx_.loop.stop(); }, bound(lane.range.last),
          ctx_.config.list_page_size);
      lane.production->prefetch();
    }
    return Ok{};
  }

  Status settle() {
    if (to_settle_.empty()) return Ok{};
    auto named = still_named_(std::exchange(to_settle_, {}));
    if (!named) return named.error();
    result_.resettled += named->size();
    if (named->empty()) return Ok{};
    return settle_and_record(ctx_, *named);
  }

  // Returns `error` once no listing is in flight (a lister must outlive its page).
  Error stop_with(Error error) {
    auto busy = [&] {
      for (const auto& lane : lanes_) {
        if (lane->production && lane->production->busy()) return true;
      }
      return false;
    };
    while (busy()) ctx_.loop.run();
    return error;
  }

  Context& ctx_;
  std::string run_started_;
  const StillNamed& still_named_;
  KeyMap map_;
  std::deque<KeyRange> queued_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::vector<std::string> to_settle_;
  RecordCheck result_;
};

}  // namespace

Result<RecordCheck> check_earlier_records(Context& ctx, const std::string& run_started,
                                          const StillNamed& still_named) {
  return Checker(ctx, run_started, still_named).run();
}

}  // namespace rehome::engine
