#include "engine/object_sync.h"

#include <fmt/format.h>

#include "engine/db_retry.h"
#include "engine/key_map.h"
#include "util/failpoint.h"

namespace rehome::engine {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(200);
constexpr auto kFlushEvery = std::chrono::seconds(1);
constexpr int kRecheckPage = 500;

std::string_view suffix_of(const s3::ObjectInfo& object, const std::string& prefix) {
  return std::string_view(object.key).substr(prefix.size());
}

}  // namespace

ObjectSync::ObjectSync(Context& context) : ctx_(context) {}

bool ObjectSync::finished() const {
  return (listing_done_ || stopping_ || fatal_) && in_flight_ == 0;
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
  if (progress->listing_complete) return Ok{};  // Rows still get their pass; see engine/job.cc.
  if (ctx_.stop_requested()) return Ok{};

  const KeyMap map(ctx_.config.legacy.prefix, ctx_.config.production.prefix);
  const std::string& start = progress->listing_watermark;
  legacy_list_.emplace(ctx_.legacy, ctx_.config.legacy.bucket, ctx_.config.legacy.prefix, start,
                       [this] { pump(); });
  production_list_.emplace(ctx_.production, ctx_.config.production.bucket,
                           ctx_.config.production.prefix,
                           start.empty() ? std::string() : map.to_production(start).value_or(""),
                           [this] { pump(); });
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
  flush(true);
  if (fatal_) return *fatal_;
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

void ObjectSync::pump() {
  if (pumping_) return;  // Outcomes that settle synchronously must not recurse into pump().
  pumping_ = true;
  const std::string& lp = ctx_.config.legacy.prefix;
  const std::string& pp = ctx_.config.production.prefix;
  const std::size_t window_limit = ctx_.config.concurrency * 4 + 1000;
  while (!stopping_ && !fatal_ && !listing_done_ && in_flight_ < ctx_.config.concurrency &&
         window_.size() < window_limit) {
    legacy_list_->prefetch();
    production_list_->prefetch();
    for (auto* list : {&*legacy_list_, &*production_list_}) {
      if (list->error()) fatal_ = list->error();
    }
    if (fatal_ || !legacy_list_->ready()) break;
    if (legacy_list_->exhausted()) {
      listing_done_ = true;
      break;
    }
    auto suffix = suffix_of(legacy_list_->front(), lp);
    // Production objects with no legacy twin are not our business: skip past them.
    while (!production_list_->exhausted() && production_list_->ready() &&
           suffix_of(production_list_->front(), pp) < suffix) {
      production_list_->pop();
      production_list_->prefetch();
    }
    if (!production_list_->ready()) break;  // Wait for the production page that decides.
    std::optional<s3::ObjectInfo> twin;
    if (!production_list_->exhausted() && suffix_of(production_list_->front(), pp) == suffix) {
      twin = production_list_->front();
      production_list_->pop();
    }
    s3::ObjectInfo legacy = legacy_list_->front();
    legacy_list_->pop();
    ++ctx_.summary.objects_listed;
    start(std::move(legacy), std::move(twin));
  }
  pumping_ = false;
}

void ObjectSync::start(s3::ObjectInfo legacy, std::optional<s3::ObjectInfo> twin) {
  const std::uint64_t sequence = window_base_ + window_.size();
  window_.push_back(Slot{legacy.key, false, std::nullopt});
  ++in_flight_;
  ctx_.copier.settle(std::move(legacy), std::move(twin), [this, sequence](CopyOutcome outcome) {
    complete(sequence, std::move(outcome));
  });
}

void ObjectSync::complete(std::uint64_t sequence, CopyOutcome outcome) {
  --in_flight_;
  count_outcome(ctx_.summary, outcome);
  if (outcome.fatal && !fatal_) fatal_ = outcome.fatal;
  Slot& slot = window_[sequence - window_base_];
  slot.done = true;
  slot.outcome = std::move(outcome);
  drain_window();
  if (pending_.size() >= ctx_.config.record_batch) flush(false);
  pump();
}

void ObjectSync::drain_window() {
  while (!window_.empty() && window_.front().done) {
    Slot& slot = window_.front();
    pending_.push_back(std::move(slot.outcome->record));
    watermark_ = std::move(slot.key);
    window_.pop_front();
    ++window_base_;
  }
}

void ObjectSync::flush(bool final) {
  const bool complete = final && listing_done_ && !stopping_ && !fatal_ && window_.empty();
  if (pending_.empty() && !watermark_ && !complete) return;
  // An upsert of the same values: replaying it after an in-doubt commit is harmless.
  Status st = retry_db(
      ctx_.state.db(), [&] { return ctx_.state.record(pending_, watermark_, complete); },
      /*replay_in_doubt=*/true);
  last_flush_ = Clock::now();
  if (!st) {
    if (!fatal_) {
      fatal_ = st.error();
      fatal_->message = "recording copy outcomes: " + fatal_->message;
    }
    return;
  }
  pending_.clear();
  watermark_.reset();
  failpoint("after-recording-outcomes");
}

}  // namespace rehome::engine
