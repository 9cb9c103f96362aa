#include "engine/object_sync.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/key_map.h"
#include "engine/range_planner.h"
#include "engine/range_split.h"
#include "engine/settle_by_key.h"
#include "s3/pacer.h"

namespace rehome::engine {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(200);
constexpr auto kFlushEvery = std::chrono::seconds(1);
constexpr int kRecheckPage = 500;
// A new job's listing is cut into this many ranges per range worked at once: ranges that
// turn out small end early and the next one starts, so an uneven plan still keeps every
// lane busy until near the end.
constexpr std::size_t kRangesPerLane = 4;

// A range bound in the production listing. Keys map one to one, in the same order, so a
// legacy range maps to the production range of its twins. A bound outside the legacy prefix
// (possible only for a split point rounded past it) falls back to "unbounded", which is safe:
// the merge only ever consumes production keys up to the legacy key in hand.
std::string production_bound(const KeyMap& map, const std::string& legacy_bound) {
  if (legacy_bound.empty()) return {};
  return map.to_production(legacy_bound).value_or("");
}

}  // namespace

ObjectSync::ObjectSync(Context& context) : ctx_(context) {}

bool ObjectSync::all_listed() const {
  if (!queued_.empty()) return false;
  return std::all_of(lanes_.begin(), lanes_.end(),
                     [](const auto& lane) { return lane->listing_done; });
}

bool ObjectSync::finished() const {
  const bool listing = std::any_of(lanes_.begin(), lanes_.end(), [](const auto& lane) {
    return lane->legacy->busy() || lane->production->busy();
  });
  return (all_listed() || stopping_ || fatal_) && in_flight_ == 0 && !listing;
}

Status ObjectSync::run() {
  auto progress = ctx_.state.progress();
  if (!progress) return progress.error();
  if (ctx_.config.relist && progress->listing_complete) {
    if (auto st = ctx_.state.reset_listing(); !st) return st;
    progress->listing_watermark.clear();
    progress->listing_complete = false;
  }
  if (auto st = recheck_earlier_problems(); !st) return st;
  if (progress->listing_complete) return Ok{};  // Rows still get their pass; see engine/run.cc.
  if (ctx_.stop_requested()) return Ok{};
  if (auto st = load_or_plan_ranges(*progress); !st) return st;
  auto sink = ctx_.state.open_outcome_sink();
  if (!sink) return sink.error();
  sink_ = std::move(sink.value());

  last_flush_ = Clock::now();
  // A ticker notices SIGINT/SIGTERM, refreshes progress and records outcomes at least every
  // second, so a kill loses little even when copies are slow.
  http::TimerId ticker = 0;
  std::function<void()> tick = [&] {
    if (ctx_.stop_requested()) stopping_ = true;
    ctx_.report_progress("objects");
    if (Clock::now() - last_flush_ >= kFlushEvery) flush(false);
    if (!finished()) ticker = ctx_.loop.after(kTick, tick);
  };
  ticker = ctx_.loop.after(kTick, tick);
  pump();
  while (!finished()) ctx_.loop.run();
  ctx_.loop.cancel(ticker);
  retire_finished_lanes();
  flush(true);
  sink_.reset();  // Its connection closes before the row phase opens its own.
  if (fatal_) return *fatal_;
  return Ok{};
}

Status ObjectSync::load_or_plan_ranges(const JobProgress& progress) {
  auto ranges = ctx_.state.ranges();
  if (!ranges) return ranges.error();
  if (ranges->empty()) {
    RangePlanRequest request;
    request.bucket = ctx_.config.legacy.bucket;
    request.prefix = ctx_.config.legacy.prefix;
    request.start_after = progress.listing_watermark;
    request.ranges = ctx_.config.ranges * kRangesPerLane;
    std::optional<Result<RangePlan>> plan;
    plan_key_ranges(ctx_.legacy, std::move(request),
                    [&plan](Result<RangePlan> result) { plan = std::move(result); });
    while (!plan) ctx_.loop.run();
    if (!*plan) {
      Error e = plan->error();
      e.message = "planning the key ranges of the legacy listing: " + e.message;
      return e;
    }
    ranges = ctx_.state.save_ranges((*plan)->ranges);
    if (!ranges) return ranges.error();
  }
  for (auto& range : *ranges) {
    next_range_number_ = std::max(next_range_number_, range.number + 1);
    if (!range.complete) queued_.push_back(std::move(range));
  }
  return Ok{};
}

Status ObjectSync::recheck_earlier_problems() {
  std::string after;
  while (!ctx_.stop_requested()) {
    auto page = ctx_.state.records_in_state({ObjectState::kConflict, ObjectState::kFailed}, after,
                                            kRecheckPage);
    if (!page) return page.error();
    if (page->empty()) return Ok{};
    after = page->back().legacy_key;
    std::vector<std::string> keys;
    keys.reserve(page->size());
    for (const auto& rec : *page) keys.push_back(rec.legacy_key);
    if (auto st = settle_and_record(ctx_, keys); !st) return st;
  }
  return Ok{};
}

// Starts listing the next ranges, up to --ranges at once. True when one was opened.
bool ObjectSync::open_lanes() {
  const KeyMap map(ctx_.config.legacy.prefix, ctx_.config.production.prefix);
  bool opened = false;
  while (lanes_.size() < ctx_.config.ranges && !queued_.empty() && !stopping_ && !fatal_) {
    auto lane = std::make_unique<Lane>();
    lane->progress = std::move(queued_.front());
    queued_.pop_front();
    const KeyRange& range = lane->progress.range;
    const int page = ctx_.config.list_page_size;
    const std::string& from = lane->progress.resume_after();
    lane->legacy.emplace(
        ctx_.legacy, ctx_.config.legacy.bucket, ctx_.config.legacy.prefix, from, [this] { pump(); },
        range.last, page);
    lane->production.emplace(
        ctx_.production, ctx_.config.production.bucket, ctx_.config.production.prefix,
        production_bound(map, from), [this] { pump(); }, production_bound(map, range.last), page);
    lanes_.push_back(std::move(lane));
    opened = true;
  }
  return opened;
}

std::size_t ObjectSync::slots() const {
  if (ctx_.request_slots) return std::max<std::size_t>(1, ctx_.request_slots());
  return ctx_.config.concurrency > 0 ? ctx_.config.concurrency : s3::kInitialInFlight;
}

std::size_t ObjectSync::most_slots() const {
  return ctx_.config.concurrency > 0 ? ctx_.config.concurrency : s3::kInFlightCeiling;
}

// Starts copies across the lanes in turn, one per lane per pass, so every range's listing
// moves on and no range starves the others of the concurrency budget.
void ObjectSync::pump() {
  if (pumping_) return;  // Outcomes that settle synchronously must not recurse into pump().
  pumping_ = true;
  retire_finished_lanes();
  open_lanes();
  bool progressed = true;
  while (progressed && !stopping_ && !fatal_ && in_flight_ < slots()) {
    progressed = false;
    // Each pass starts one lane further on: a completion usually frees one slot, and always
    // offering it to the first lane would leave the others (and their listings) idle.
    const std::size_t first = next_lane_++;
    for (std::size_t i = 0; i < lanes_.size() && in_flight_ < slots(); ++i) {
      if (pump_lane(*lanes_[(first + i) % lanes_.size()])) progressed = true;
      if (stopping_ || fatal_) break;
    }
    if (!progressed) {
      retire_finished_lanes();
      progressed = open_lanes() || (split_busiest_lane() && open_lanes());
    }
  }
  pumping_ = false;
}

// When a lane is free and no range is queued, the busiest range gives up the second half of
// what it has not listed yet: the donor's listers stop at the split point and a new range
// (point, last] is queued. The split is recorded in the stream of outcome batches, so it
// commits before (or with) any outcome of the new range, and off this thread. Until it
// commits, the database still has the donor covering (point, last]: a kill meanwhile loses
// nothing, the rerun lists that part in the donor. True when a range was queued.
bool ObjectSync::split_busiest_lane() {
  if (lanes_.size() >= ctx_.config.ranges || !queued_.empty() || stopping_ || fatal_) return false;
  std::vector<ListingStand> stands;
  stands.reserve(lanes_.size());
  for (const auto& lane : lanes_) stands.push_back(lane->legacy->stand());
  auto split = choose_split(stands, static_cast<double>(ctx_.config.split_min_keys));
  if (!split) return false;
  Lane& donor = *lanes_[split->index];
  const std::string last = donor.progress.range.last;
  std::string point = std::move(split->point);
  const int number = next_range_number_++;
  pending_splits_.push_back(RangeSplit{donor.progress.number, last, point, number});
  const KeyMap map(ctx_.config.legacy.prefix, ctx_.config.production.prefix);
  donor.progress.range.last = point;
  donor.legacy->lower_last(point);
  // Unmappable (never for a point under the legacy prefix): the production side stays
  // unbounded, which is safe (see production_bound).
  if (auto bound = production_bound(map, point); !bound.empty()) {
    donor.production->lower_last(std::move(bound));
  }
  queued_.push_front(RangeProgress{number, KeyRange{std::move(point), last}, "", false});
  ++ctx_.summary.ranges_split;
  flush(false);  // Recorded soon, whatever else is pending.
  return true;
}

// Starts the lane's next copy if its listings allow. False when the lane must wait (for a
// page, or for its window to drain) or has nothing left to list.
bool ObjectSync::pump_lane(Lane& lane) {
  const std::string& lp = ctx_.config.legacy.prefix;
  if (lane.listing_done || lane.window.size() >= window_limit(most_slots())) {
    return false;
  }
  Lister& legacy = *lane.legacy;
  Lister& production = *lane.production;
  legacy.prefetch();
  production.prefetch();
  for (const Lister* list : {&legacy, &production}) {
    if (list->error() && !fatal_) fatal_ = list->error();
  }
  if (fatal_ || !legacy.ready()) return false;
  if (legacy.exhausted()) {
    lane.listing_done = true;
    return false;
  }
  TwinLookup found = take_twin(KeyMap::suffix_of_listed(legacy.front().key, lp), production);
  if (found.error) {
    if (!fatal_) fatal_ = found.error;
    return false;
  }
  if (!found.ready) return false;  // Wait for the production page that decides.
  s3::ObjectInfo object = legacy.front();
  legacy.pop();
  ++ctx_.summary.objects_listed;
  start(lane, std::move(object), std::move(found.twin));
  return true;
}

void ObjectSync::start(Lane& lane, s3::ObjectInfo legacy, std::optional<s3::ObjectInfo> twin) {
  const std::uint64_t sequence = lane.window_base + lane.window.size();
  lane.window.push_back(Slot{legacy.key, false, std::nullopt});
  ++lane.in_flight;
  ++in_flight_;
  // The lane outlives its copies: it is retired only once nothing of it is in flight.
  ctx_.copier.settle(std::move(legacy), std::move(twin),
                     [this, lane = &lane, sequence](CopyOutcome outcome) {
                       complete(lane, sequence, std::move(outcome));
                     });
}

void ObjectSync::complete(Lane* lane, std::uint64_t sequence, CopyOutcome outcome) {
  --lane->in_flight;
  --in_flight_;
  count_outcome(ctx_.summary, outcome);
  if (outcome.fatal && !fatal_) fatal_ = outcome.fatal;
  judge_first_outcomes(outcome);
  Slot& slot = lane->window[sequence - lane->window_base];
  slot.done = true;
  slot.outcome = std::move(outcome);
  drain(*lane);
  if (pending_.size() >= ctx_.config.record_batch) flush(false);
  pump();
}

// A 403 fails one object and the job goes on; but when the first objects are all refused the
// same way, the whole prefix is denied (or the role cannot read or write at all) and going on
// would only record every object as failed: stop, and say what to check.
void ObjectSync::judge_first_outcomes(const CopyOutcome& outcome) {
  if (!first_refusals_open_) return;
  const bool same =
      outcome.refusal && (first_refusals_ == 0 || outcome.refusal->code == first_refusal_code_);
  if (!same) {
    first_refusals_open_ = false;  // A success, or a different failure: not a blanket deny.
    return;
  }
  first_refusal_code_ = outcome.refusal->code;
  if (++first_refusals_ < kFirstRefusalsToStop || fatal_) return;
  fatal_ = Error::of(
      ErrorKind::kAccessDenied,
      fmt::format("the first {} objects were all refused the same way, the last with: {}. The "
                  "job cannot work as configured: check s3:GetObject on s3://{}/{}* and "
                  "s3:PutObject on s3://{}/{}* for these credentials, bucket policies and KMS "
                  "keys (docs/PRIVILEGES.md)",
                  kFirstRefusalsToStop, outcome.refusal->message, ctx_.config.legacy.bucket,
                  ctx_.config.legacy.prefix, ctx_.config.production.bucket,
                  ctx_.config.production.prefix),
      outcome.refusal->code);
}

void ObjectSync::drain(Lane& lane) {
  while (!lane.window.empty() && lane.window.front().done) {
    Slot& slot = lane.window.front();
    pending_.push_back(std::move(slot.outcome->record));
    lane.watermark = std::move(slot.key);
    lane.window.pop_front();
    ++lane.window_base;
  }
}

// A lane whose range is listed to its end and whose every outcome is drained is done: its
// completion is recorded with those outcomes at the next flush, and the lane makes room.
// Called only between pump()'s passes and after the loop, never while lanes are iterated. A
// lane with a page request in flight waits for it: the request's callback comes back to it.
void ObjectSync::retire_finished_lanes() {
  auto done = [](const std::unique_ptr<Lane>& lane) {
    return lane->listing_done && lane->in_flight == 0 && lane->window.empty() &&
           !lane->legacy->busy() && !lane->production->busy();
  };
  for (const auto& lane : lanes_) {
    if (done(lane)) {
      finished_marks_.push_back(
          RangeMark{lane->progress.number, lane->watermark.value_or(""), true});
    }
  }
  lanes_.erase(std::remove_if(lanes_.begin(), lanes_.end(), done), lanes_.end());
}

// Hands what was drained since the last flush to the recorder (cheap: the commit happens on
// its thread). The final flush also waits for every batch to commit: the row phase that
// follows reads these records.
void ObjectSync::flush(bool final) {
  const bool complete = final && all_listed() && lanes_.empty() && !stopping_ && !fatal_;
  std::vector<RangeMark> marks = std::move(finished_marks_);
  finished_marks_.clear();
  for (auto& lane : lanes_) {
    if (lane->watermark) {
      marks.push_back(RangeMark{lane->progress.number, std::move(*lane->watermark), false});
      lane->watermark.reset();
    }
  }
  last_flush_ = Clock::now();
  Status st = Ok{};
  if (!pending_.empty() || !marks.empty() || complete || !pending_splits_.empty()) {
    st = sink_->submit(
        OutcomeBatch{std::move(pending_), std::move(marks), complete, std::move(pending_splits_)});
    pending_.clear();
    pending_splits_.clear();
    pending_.reserve(ctx_.config.record_batch);
  }
  if (st && final) st = sink_->drain();
  if (st) st = sink_->status();
  if (!st && !fatal_) {
    fatal_ = st.error();
    fatal_->message = "recording copy outcomes: " + fatal_->message;
  }
}

}  // namespace rehome::engine
