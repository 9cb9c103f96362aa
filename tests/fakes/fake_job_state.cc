#include "fake_job_state.h"

#include <algorithm>
#include <utility>

namespace rehome::fakes {

using engine::ObjectRecord;
using engine::OutcomeBatch;
using engine::RangeProgress;

namespace {

// Applies each batch at once, in order, as the recorder's thread would commit them.
class FakeSink final : public engine::OutcomeSink {
 public:
  explicit FakeSink(FakeJobState& state) : state_(state) {}
  Status submit(OutcomeBatch batch) override {
    if (failure_) return *failure_;
    if (state_.sink_fails_after && state_.batches.size() >= *state_.sink_fails_after) {
      failure_ = Error::permanent("the database refused the batch");
      return Ok{};  // Like the recorder: the failure shows at the next call.
    }
    Status st = state_.apply(std::move(batch));
    if (!st) failure_ = st.error();
    return Ok{};
  }
  Status drain() override { return status(); }
  Status status() const override {
    if (failure_) return *failure_;
    return Ok{};
  }
  std::vector<engine::RangeClaim> take_lost() override { return std::exchange(state_.fenced, {}); }

 private:
  FakeJobState& state_;
  std::optional<Error> failure_;
};

}  // namespace

Status FakeJobState::reset_listing() {
  job = {};
  saved_ranges.clear();
  return Ok{};
}

Result<std::vector<RangeProgress>> FakeJobState::save_ranges(
    const std::vector<engine::KeyRange>& plan) {
  if (!saved_ranges.empty()) return saved_ranges;
  int number = 0;
  for (const auto& range : plan) saved_ranges.push_back(RangeProgress{number++, range, "", false});
  return saved_ranges;
}

Result<std::optional<RangeProgress>> FakeJobState::claim_range() {
  for (auto& r : saved_ranges) {
    if (r.complete || claimed.contains(r.number)) continue;
    claimed.insert(r.number);
    r.epoch = next_epoch++;
    return std::optional<RangeProgress>{r};
  }
  return std::optional<RangeProgress>{};
}

Result<int> FakeJobState::new_range_number() {
  int next = 0;
  for (const auto& r : saved_ranges) next = std::max(next, r.number + 1);
  for (const auto& b : batches) {
    for (const auto& s : b.splits) next = std::max(next, s.new_number + 1);
  }
  next = std::max(next, next_range_);
  next_range_ = next + 1;
  return next;
}

void FakeJobState::take_over(int number) {
  for (auto& r : saved_ranges) {
    if (r.number != number) continue;
    taken_over.push_back(engine::RangeClaim{number, r.epoch, {}, {}});
    r.epoch = next_epoch++;
    claimed.insert(number);  // The other worker's now.
    others_.insert(number);
  }
}

void FakeJobState::split(const engine::RangeSplit& s) {
  auto it = std::find_if(saved_ranges.begin(), saved_ranges.end(),
                         [&](const RangeProgress& r) { return r.number == s.number; });
  if (it == saved_ranges.end() || it->range.last != s.last) return;  // Replayed: no-op.
  it->range.last = s.point;
  RangeProgress added{s.new_number, engine::KeyRange{s.point, s.last}, "", false,
                      s.released ? 0 : it->epoch};
  if (!s.released) claimed.insert(s.new_number);
  saved_ranges.insert(it + 1, added);
  ++splits;
}

Result<std::vector<ObjectRecord>> FakeJobState::records_in_state(
    const std::vector<engine::ObjectState>& states, const std::string& after, int limit) {
  std::vector<ObjectRecord> out;
  for (auto it = records.upper_bound(after); it != records.end(); ++it) {
    if (std::find(states.begin(), states.end(), it->second.state) == states.end()) continue;
    if (static_cast<int>(out.size()) == limit) break;
    out.push_back(it->second);
  }
  return out;
}

Result<std::optional<engine::RecordedCopy>> FakeJobState::recorded_copy(
    const std::string& legacy_key) {
  auto it = copies.find(legacy_key);
  if (it == copies.end()) return std::optional<engine::RecordedCopy>{};
  return std::optional<engine::RecordedCopy>{it->second};
}

Result<std::vector<ObjectRecord>> FakeJobState::copied_before(const std::string&,
                                                              const std::string& after,
                                                              const std::string& last, int limit) {
  std::vector<ObjectRecord> out;
  for (auto it = records.upper_bound(after); it != records.end(); ++it) {
    if (!last.empty() && it->first > last) break;
    if (it->second.state != engine::ObjectState::kCopied || fresh.contains(it->first)) continue;
    if (static_cast<int>(out.size()) == limit) break;
    out.push_back(it->second);
  }
  return out;
}

void FakeJobState::keep(const ObjectRecord& r) {
  records[r.legacy_key] = r;
  fresh.insert(r.legacy_key);
  // Like the upsert: the last copy rehome wrote outlives later outcomes.
  if (r.rehome_wrote) {
    copies[r.legacy_key] = engine::RecordedCopy{r.etag, r.production_etag};
  }
}

Status FakeJobState::record(const std::vector<ObjectRecord>& batch) {
  for (const auto& r : batch) keep(r);
  return Ok{};
}

Result<std::unique_ptr<engine::OutcomeSink>> FakeJobState::open_outcome_sink() {
  claimed.clear();  // A new run: the last one's claims ended with it.
  for (const auto& r : saved_ranges) {
    if (taken_by_other(r.number)) claimed.insert(r.number);
  }
  return std::unique_ptr<engine::OutcomeSink>(std::make_unique<FakeSink>(*this));
}

Status FakeJobState::apply(OutcomeBatch batch) {
  if (split_error && !batch.splits.empty()) return *split_error;
  // The fence, as StateStore::record applies it.
  std::vector<int> lost;
  for (const auto& c : batch.claims) {
    auto it = std::find_if(saved_ranges.begin(), saved_ranges.end(),
                           [&](const RangeProgress& r) { return r.number == c.number; });
    bool held = it != saved_ranges.end() && it->epoch == c.epoch;
    if (it == saved_ranges.end()) {
      for (const auto& s : batch.splits) {
        auto donor = std::find_if(saved_ranges.begin(), saved_ranges.end(),
                                  [&](const RangeProgress& r) { return r.number == s.number; });
        if (s.new_number == c.number && !s.released && donor != saved_ranges.end() &&
            donor->epoch == c.epoch) {
          held = true;
        }
      }
    }
    if (!held) {
      lost.push_back(c.number);
      fenced.push_back(c);
    }
  }
  auto is_lost = [&](int n) { return std::find(lost.begin(), lost.end(), n) != lost.end(); };
  auto in_lost = [&](const std::string& key) {
    return std::any_of(batch.claims.begin(), batch.claims.end(), [&](const engine::RangeClaim& c) {
      return is_lost(c.number) && key > c.start_after && (c.last.empty() || key <= c.last);
    });
  };
  for (const auto& s : batch.splits) {
    if (!is_lost(s.number)) split(s);
  }
  for (const auto& r : batch.records) {
    if (in_lost(r.legacy_key)) {
      ++fenced_records;
    } else {
      keep(r);
    }
  }
  std::erase_if(batch.marks, [&](const engine::RangeMark& m) { return is_lost(m.number); });
  for (const auto& mark : batch.marks) {
    auto it = std::find_if(saved_ranges.begin(), saved_ranges.end(),
                           [&](const RangeProgress& r) { return r.number == mark.number; });
    if (it == saved_ranges.end()) return Error::permanent("a mark for an unknown range");
    if (!mark.watermark.empty() && mark.watermark > it->watermark) it->watermark = mark.watermark;
    if (mark.complete) it->complete = true;
    // Every key of the range up to its watermark (all of it, once complete) has a record.
    for (const auto& key : universe) {
      const bool covered = it->range.contains(key) &&
                           (it->complete || (!it->watermark.empty() && key <= it->watermark));
      if (covered && !records.contains(key)) watermark_violations.push_back(key);
    }
  }
  if (!saved_ranges.empty() && std::all_of(saved_ranges.begin(), saved_ranges.end(),
                                           [](const RangeProgress& r) { return r.complete; })) {
    job.listing_complete = true;
  }
  batches.push_back(std::move(batch));
  return Ok{};
}

bool FakeJobState::ranges_cover_everything() const {
  if (saved_ranges.empty()) return false;
  std::string expected_start;
  for (const auto& r : saved_ranges) {
    if (r.range.start_after != expected_start) return false;
    expected_start = r.range.last;
    if (expected_start.empty() && &r != &saved_ranges.back()) return false;
  }
  return expected_start.empty();
}

}  // namespace rehome::fakes
