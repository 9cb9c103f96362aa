#include "engine/range_planner.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

namespace rehome::engine {

namespace {

using FoundKey = std::optional<std::string>;  // The key a probe met, or nullopt for none.

/// One planning. Every probe's callback holds it, so it lives until the last one returns.
///
/// The search for the last key grows `stem_`, the bytes of the last key known so far, one byte
/// per level. At each level the next byte lies in [lo_, hi_]: lo_ is the byte of the largest
/// key met (-1: none continues the stem), hi_ the largest byte no probe has ruled out. A probe
/// at byte b asks for the first key after stem_ + b: if it continues the stem, its byte (>= b)
/// raises lo_; if not, no key continues the stem with b or more, so hi_ drops below b.
class Planner : public std::enable_shared_from_this<Planner> {
 public:
  Planner(s3::Api& client, RangePlanRequest request, RangePlanCallback done)
      : client_(client), request_(std::move(request)), done_(std::move(done)) {}

  void start() {
    send(request_.start_after, [this](FoundKey first) {
      if (!first) return finish();
      plan_.first = plan_.last_estimate = *first;
      find_parting();
    });
  }

 private:
  std::size_t budget() const {
    return request_.max_probes - std::min<std::size_t>(request_.max_probes, plan_.probes);
  }

  /// The byte of `key` right after the stem, or -1 when the key ends there.
  int byte_after_stem(const std::string& key) const {
    return key.size() > stem_.size() ? static_cast<unsigned char>(key[stem_.size()]) : -1;
  }

  /// The first key after `start_after` under the prefix (one key, one request).
  void send(const std::string& start_after, std::function<void(FoundKey)> then) {
    ++plan_.probes;
    s3::ListRequest list;
    list.bucket = request_.bucket;
    list.prefix = request_.prefix;
    list.start_after = start_after;
    list.max_keys = 1;
    client_.list_objects_v2(std::move(list), [self = shared_from_this(),
                                              then = std::move(then)](Result<s3::ListPage> page) {
      if (self->ended_) return;
      if (!page) return self->fail(std::move(page).error());
      then(page->objects.empty() ? FoundKey{} : FoundKey{std::move(page->objects.front().key)});
    });
  }

  /// Probes at byte b of the level; `then` runs when it has been taken into account.
  void probe_byte(int b, std::function<void()> then) {
    // No real key lies between stem_ + b and its rounding up (keys are printable UTF-8), and
    // the rounding keeps malformed bytes out of the request and of the server's XML answer.
    auto after = round_up_to_printable_utf8(stem_ + static_cast<char>(b));
    auto take = [this, b, then = std::move(then)](FoundKey key) {
      if (key && key->starts_with(stem_) && key->size() > stem_.size()) {
        if (*key > plan_.last_estimate) plan_.last_estimate = *key;
        lo_ = std::max(lo_, byte_after_stem(*key));
      } else {
        hi_ = std::min(hi_, b - 1);
      }
      then();
    };
    if (!after) return take(std::nullopt);  // Nothing printable lies above: no key either.
    send(*after, std::move(take));
  }

  /// Where the last key parts from the first key F, in a few rounds instead of one round per
  /// shared byte (every round is a full round trip: 50-150 ms on AWS). Position j "is past"
  /// when some key lies beyond every key that shares F[0..j], i.e. after F[0..j) + (F[j] + 1):
  /// false up to the parting position p, true from p on (keys all share F[0..p), and one
  /// differs at p). A search with `fanout` probes per round finds p; p's own answer is a key
  /// that parts there, the first lower bound for the last key's byte.
  void find_parting() {
    part_from_ = std::min(request_.prefix.size(), plan_.first.size());
    part_to_ = plan_.first.size();
    parting_key_.reset();
    parting_round();
  }

  void parting_round() {
    const std::string& f = plan_.first;
    const std::size_t width = part_to_ - part_from_;
    const std::size_t count = std::min({request_.fanout, budget(), width});
    if (count == 0) return after_parting();
    std::vector<std::size_t> positions;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t j = part_from_ + (width * i) / count;
      if (positions.empty() || j > positions.back()) positions.push_back(j);
    }
    // One extra count held until every probe is sent (as in narrow()).
    pending_ = positions.size() + 1;
    auto answered = [this] {
      if (--pending_ == 0) parting_round_done();
    };
    for (std::size_t j : positions) {
      const auto byte = static_cast<unsigned char>(f[j]);
      auto after = byte == 0xFF
                       ? std::nullopt
                       : round_up_to_printable_utf8(f.substr(0, j) + static_cast<char>(byte + 1));
      if (!after) {  // Nothing printable lies above: no key either; j is not past.
        part_from_ = std::max(part_from_, j + 1);
        answered();
        continue;
      }
      send(*after, [this, j, answered](FoundKey key) {
        if (key) {
          if (j < part_to_) {
            part_to_ = j;
            parting_key_ = std::move(key);
          }
        } else {
          part_from_ = std::max(part_from_, j + 1);
        }
        answered();
      });
    }
    answered();
  }

  void parting_round_done() {
    if (part_from_ < part_to_) return parting_round();
    after_parting();
  }

  void after_parting() {
    const std::string& f = plan_.first;
    if (part_from_ >= part_to_ && part_to_ < f.size() && parting_key_ &&
        parting_key_->size() > part_to_ &&
        parting_key_->compare(0, part_to_, f, 0, part_to_) == 0) {
      if (*parting_key_ > plan_.last_estimate) plan_.last_estimate = *parting_key_;
      stem_ = f.substr(0, part_to_);
      at_parting_ = true;
      return begin_level();
    }
    // Every key extends F (or the budget ran out): go on byte by byte after what is known.
    stem_ = f.substr(0, std::min(part_from_, f.size()));
    begin_level();
  }

  void begin_level() {
    if (parted_ && levels_past_first_ >= request_.depth) return finish();
    lo_ = byte_after_stem(plan_.last_estimate);
    hi_ = 255;
    if (lo_ == 255) return end_level();
    if (budget() == 0) return finish();
    // Past the parting point (or at it), keys spread over many bytes: narrow at once.
    if (parted_ || at_parting_) {
      at_parting_ = false;
      return narrow();
    }
    // One probe first: a byte the last key shares with the first costs one request.
    probe_byte(lo_ + 1, [this] { after_round(); });
  }

  /// Up to `fanout` probes spread evenly over (lo_, hi_], all in flight at once.
  void narrow() {
    const int count = static_cast<int>(std::min(request_.fanout, budget()));
    if (count == 0) return finish();
    std::vector<int> bytes;
    for (int j = 1; j <= count; ++j) {
      const int b = lo_ + ((hi_ - lo_) * j + count) / (count + 1);
      if (b > lo_ && b <= hi_ && (bytes.empty() || b > bytes.back())) bytes.push_back(b);
    }
    // One extra count held until every probe is sent: a probe answered at once (nothing to
    // ask) must not end the round while the loop below still sends its siblings.
    pending_ = bytes.size() + 1;
    auto answered = [this] {
      if (--pending_ == 0) after_round();
    };
    for (int b : bytes) probe_byte(b, answered);
    answered();
  }

  void after_round() {
    hi_ = std::max(hi_, lo_);  // Keys outside printable UTF-8 can make the answers disagree.
    if (lo_ < hi_) return narrow();
    end_level();
  }

  void end_level() {
    if (lo_ < 0) return finish();  // No key continues the stem: the stem is the last key.
    if (!parted_) {
      parted_ = stem_.size() >= plan_.first.size() ||
                static_cast<unsigned char>(plan_.first[stem_.size()]) != lo_;
    }
    if (parted_) ++levels_past_first_;
    stem_ += static_cast<char>(lo_);
    begin_level();
  }

  void finish() {
    ended_ = true;
    plan_.ranges = split_key_ranges(
        {request_.prefix, request_.start_after, plan_.first, plan_.last_estimate}, request_.ranges);
    done_(std::move(plan_));
  }

  void fail(Error error) {
    ended_ = true;
    done_(std::move(error));
  }

  s3::Api& client_;
  RangePlanRequest request_;
  RangePlanCallback done_;
  RangePlan plan_;
  std::string stem_;
  int lo_ = -1;
  int hi_ = 255;
  std::size_t pending_ = 0;
  std::size_t part_from_ = 0, part_to_ = 0;  // find_parting(): the parting lies in [from, to].
  FoundKey parting_key_;                     // The answer at part_to_.
  bool parted_ = false;                      // The stem no longer follows the first key.
  bool at_parting_ = false;  // find_parting() showed the next byte parts from the first key.
  std::size_t levels_past_first_ = 0;
  bool ended_ = false;
};

}  // namespace

void plan_key_ranges(s3::Api& client, RangePlanRequest request, RangePlanCallback done) {
  std::make_shared<Planner>(client, std::move(request), std::move(done))->start();
}

}  // namespace rehome::engine
