#include "engine/object_sync.h"

#include <algorithm>

#include <fmt/format.h>

#include <span>

#include "engine/key_map.h"
#include "engine/range_planner.h"
#include "engine/range_split.h"
#include "engine/settle_by_key.h"
#include "s3/pacer.h"

namespace rehome::engine {

namespace {

constexpr auto kTick = std::chrono::milliseconds(200);
constexpr auto kFlushEvery = std::chrono::seconds(1);
constexpr int kRecheckPage = 500;
// A new job's listing is cut into this many ranges per range worked at once: ranges that
// turn out small end early and the next one starts, so an uneven plan still keeps every
// lane busy until near the end.
constexpr std::size_t kRangesPerLane = 4;
// How often a worker with nothing to claim looks again (and asks others to split).
constexpr auto kLookEvery = std::chrono::seconds(1);

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
  if (in_flight_ > 0 || listing) return false;
  // Done here is not enough: the job's listing is done when every worker's ranges are.
  return stopping_ || fatal_ || (job_listed_ && lanes_.empty() && queued_.empty());
}

Status ObjectSync::run() {
  auto progress = ctx_.state.progress();
  if (!progress) return progress.error();
  if (progress->listing_complete) return Ok{};  // Rows still get their pass; see engine/run.cc.
  if (ctx_.stop_requested()) return Ok{};
  if (auto st = plan_ranges(*progress); !st) return st;
  auto sink = ctx_.state.open_outcome_sink();
  if (!sink) return sink.error();
  sink_ = std::move(sink.value());

  last_flush_ = Clock::now();
  // A ticker notices SIGINT/SIGTERM, refreshes progress, records outcomes at least every
  // second (so a kill loses little even when copies are slow), and hears from other workers.
  http::TimerId ticker = 0;
  std::function<void()> tick = [&] {
    if (ctx_.stop_requested()) stopping_ = true;
    ctx_.report_progress("objects");
    if (Clock::now() - last_flush_ >= kFlushEvery) flush(false);
    // On a clock of its own: a busy worker flushes on batch size, more often than this.
    if (Clock::now() - last_coordinated_ >= kFlushEvery) {
      last_coordinated_ = Clock::now();
      coordinate();
    }
    pump();
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

// A new job's plan: made by every worker that finds none, saved by the first (the others
// then read it).
Status ObjectSync::plan_ranges(const JobProgress& progress) {
  auto ranges = ctx_.state.ranges();
  if (!ranges) return ranges.error();
  if (!ranges->empty()) return Ok{};
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
  return Ok{};
}

Status recheck_earlier_problems(Context& ctx) {
  std::string after;
  while (!ctx.stop_requested()) {
    auto page = ctx.state.records_in_state({ObjectState::kConflict, ObjectState::kFailed}, after,
                                           kRecheckPage);
    if (!page) return page.error();
    if (page->empty()) return Ok{};
    after = page->back().legacy_key;
    std::vector<std::string> keys;
    keys.reserve(page->size());
    for (const auto& rec : *page) keys.push_back(rec.legacy_key);
    if (auto st = settle_and_record(ctx, keys); !st) return st;
  }
  return Ok{};
}

// Alone, a range is worth splitting when a second listing pays for itself (--split-min-keys).
// Shared, the last ranges of the job would otherwise hold every other worker idle while one
// lists them to their end: a fortieth of that (50 keys by default, one LIST for under a second
// of a worker's copies) still pays, where a tenth left a worker with several ranges of 200
// keys copying them alone for seconds (bench/model's latency-bound tail).
double ObjectSync::split_min_keys() const {
  const double alone = static_cast<double>(ctx_.config.split_min_keys);
  return ctx_.state.shared() ? std::max(std::min(alone, 50.0), alone / 40) : alone;
}

// A lane's listing stand. Shared, the open-ended last range gets an estimated bound (stored in
// `bound`, which must outlive the stand), so that it can be split for other workers too: alone,
// a worker's lanes balance well enough without.
ListingStand ObjectSync::stand_of(const Lane& lane, std::string& bound) const {
  ListingStand stand = lane.legacy->stand();
  if (stand.last.empty() && ctx_.state.shared() && !stand.position.empty()) {
    bound = estimated_last(stand.prefix, stand.position, lane.legacy->alphabet());
    stand.last = bound;
  }
  return stand;
}

RangeClaim ObjectSync::claim_of(const RangeProgress& range) const {
  return RangeClaim{range.number, range.epoch, range.range.start_after, range.range.last};
}

// Hears what other workers changed: ranges taken over (this worker was frozen or cut off longer
// than a lease) are abandoned; ranges others asked to split are split for them. And tells them
// how many keys each of this worker's ranges likely has left.
void ObjectSync::coordinate() {
  std::vector<RangeClaim> lost = ctx_.state.lost_ranges();
  if (sink_) {
    for (auto& claim : sink_->take_lost()) lost.push_back(std::move(claim));
  }
  for (const auto& claim : lost) {
    for (auto& lane : lanes_) {
      if (lane->progress.number == claim.number && lane->progress.epoch == claim.epoch &&
          !lane->lost) {
        abandon(*lane);
      }
    }
    std::erase_if(queued_, [&](const RangeProgress& q) {
      return q.number == claim.number && q.epoch == claim.epoch;
    });
  }
  for (int number : ctx_.state.split_requests()) {
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      Lane& lane = *lanes_[i];
      if (lane.progress.number != number || lane.lost || lane.listing_done) continue;
      std::string bound;
      const ListingStand stand = stand_of(lane, bound);
      auto split = choose_split(std::span(&stand, 1), split_min_keys());
      if (split) split_lane(i, std::move(split->point), /*released=*/true);
    }
  }
  std::vector<std::pair<int, double>> remaining;
  for (const auto& lane : lanes_) {
    if (lane->lost || lane->listing_done) continue;
    std::string bound;
    remaining.emplace_back(lane->progress.number, remaining_keys_estimate(stand_of(*lane, bound)));
  }
  ctx_.state.publish_remaining(std::move(remaining));
}

// Another worker owns the range now: nothing more is listed or recorded for it here. Copies in
// flight finish (their outcomes are dropped as they come); what was drained but not yet handed
// over is dropped now, and the fence drops what was handed over but not yet committed.
void ObjectSync::abandon(Lane& lane) {
  lane.lost = true;
  lane.listing_done = true;
  lane.watermark.reset();
  const KeyRange& r = lane.progress.range;
  std::erase_if(pending_, [&](const ObjectRecord& rec) {
    return rec.legacy_key > r.start_after && (r.last.empty() || rec.legacy_key <= r.last);
  });
  lost_claims_.push_back(claim_of(lane.progress));
  ctx_.state.drop_range(lane.progress);
  ++ctx_.summary.ranges_lost;
}

// Nothing left to claim and no lane at work: ask the busiest worker to split a range (it
// releases the second half, which the next claim finds), and find out whether the listing is
// done. At most once a second.
void ObjectSync::look_for_work() {
  if (stopping_ || fatal_ || job_listed_ || Clock::now() < next_look_) return;
  next_look_ = Clock::now() + kLookEvery;
  if (lanes_.size() < ctx_.config.ranges && queued_.empty()) {
    // One range asked for per free lane: an idle worker fills up in one round trip.
    auto asked = ctx_.state.request_split(split_min_keys(), ctx_.config.ranges - lanes_.size());
    if (!asked && !fatal_) fatal_ = asked.error();
    if (asked && *asked) next_claim_ = Clock::now();
  }
  if (!lanes_.empty() || !queued_.empty()) return;
  // This worker's last marks go first (the listing is complete only with them).
  flush(true);
  auto progress = ctx_.state.progress();
  if (!progress) {
    if (!fatal_) fatal_ = progress.error();
    return;
  }
  job_listed_ = progress->listing_complete;
}

// Starts listing the next ranges, up to --ranges at once: those split off this worker's own
// first, then claimed. True when one was opened.
bool ObjectSync::open_lanes() {
  const KeyMap map(ctx_.config.legacy.prefix, ctx_.config.production.prefix);
  bool opened = false;
  while (lanes_.size() < ctx_.config.ranges && !stopping_ && !fatal_) {
    RangeProgress next;
    if (!queued_.empty()) {
      next = std::move(queued_.front());
      queued_.pop_front();
    } else {
      if (Clock::now() < next_claim_) break;
      auto claimed = ctx_.state.claim_range();
      if (!claimed) {
        fatal_ = claimed.error();
        break;
      }
      if (!*claimed) {
        next_claim_ = Clock::now() + kLookEvery;  // None waiting: ask again in a while.
        break;
      }
      next = std::move(**claimed);
    }
    auto lane = std::make_unique<Lane>();
    lane->progress = std::move(next);
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
  if (lanes_.size() < ctx_.config.ranges && queued_.empty()) look_for_work();
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
  if (Clock::now() < next_split_) return false;  // The last range released is not claimed yet.
  std::vector<ListingStand> stands;
  std::vector<std::size_t> index;
  std::vector<std::string> bounds(lanes_.size());  // Storage the stands' views point into.
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    if (lanes_[i]->lost) continue;
    stands.push_back(stand_of(*lanes_[i], bounds[i]));
    index.push_back(i);
  }
  auto split = choose_split(stands, split_min_keys());
  if (!split) return false;
  // With other workers alive, the new range goes to whoever claims it first (this worker's
  // next claim competes for it): an idle worker gets work without waiting to be asked.
  const bool release = ctx_.state.shared();
  split_lane(index[split->index], std::move(split->point), release);
  if (release) {
    next_claim_ = Clock::now();
    next_split_ = Clock::now() + kLookEvery;
  }
  return !queued_.empty();
}

void ObjectSync::split_lane(std::size_t index, std::string point, bool released) {
  auto number = ctx_.state.new_range_number();
  if (!number) {
    if (!fatal_) fatal_ = number.error();
    return;
  }
  Lane& donor = *lanes_[index];
  const std::string last = donor.progress.range.last;
  pending_splits_.push_back(
      RangeSplit{donor.progress.number, last, point, *number, donor.progress.epoch, released});
  const KeyMap map(ctx_.config.legacy.prefix, ctx_.config.production.prefix);
  donor.progress.range.last = point;
  donor.legacy->lower_last(point);
  // Unmappable (never for a point under the legacy prefix): the production side stays
  // unbounded, which is safe (see production_bound).
  if (auto bound = production_bound(map, point); !bound.empty()) {
    donor.production->lower_last(std::move(bound));
  }
  if (!released) {
    // The new range stays this worker's, under the donor's claim (and epoch).
    queued_.push_front(
        RangeProgress{*number, KeyRange{std::move(point), last}, "", false, donor.progress.epoch});
    ctx_.state.keep_range(queued_.front());  // Renewed in its own right, past its donor's end.
  }
  ++ctx_.summary.ranges_split;
  flush(false);  // Recorded soon, whatever else is pending.
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
  if (lane->lost) {
    // The new owner records this object (it lists it again): only the window moves on.
    while (!lane->window.empty() && lane->window.front().done) {
      lane->window.pop_front();
      ++lane->window_base;
    }
  } else {
    drain(*lane);
  }
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
    if (done(lane) && !lane->lost) {
      finished_marks_.push_back(
          RangeMark{lane->progress.number, lane->watermark.value_or(""), true});
      finished_claims_.push_back(claim_of(lane->progress));
      ctx_.state.drop_range(lane->progress);
    }
  }
  lanes_.erase(std::remove_if(lanes_.begin(), lanes_.end(), done), lanes_.end());
}

// Hands what was drained since the last flush to the recorder (cheap: the commit happens on
// its thread). The final flush also waits for every batch to commit: the row phase that
// follows reads these records.
void ObjectSync::flush(bool final) {
  std::vector<RangeMark> marks = std::move(finished_marks_);
  std::vector<RangeClaim> claims = std::move(finished_claims_);
  finished_marks_.clear();
  finished_claims_.clear();
  for (auto& lane : lanes_) {
    if (lane->lost) continue;
    claims.push_back(claim_of(lane->progress));
    if (lane->watermark) {
      marks.push_back(RangeMark{lane->progress.number, std::move(*lane->watermark), false});
      lane->watermark.reset();
    }
  }
  for (const auto& q : queued_) claims.push_back(claim_of(q));
  // Abandoned ranges fence too: a record of theirs that slipped into this batch is dropped.
  for (auto& lost : lost_claims_) claims.push_back(std::move(lost));
  lost_claims_.clear();
  last_flush_ = Clock::now();
  Status st = Ok{};
  if (!pending_.empty() || !marks.empty() || !pending_splits_.empty()) {
    st = sink_->submit(OutcomeBatch{std::move(pending_), std::move(marks),
                                    std::move(pending_splits_), std::move(claims)});
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
