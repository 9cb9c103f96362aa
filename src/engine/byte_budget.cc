#include "engine/byte_budget.h"

#include <algorithm>

namespace rehome::engine {

void ByteBudget::take(std::int64_t bytes) {
  in_use_ += bytes;
  peak_ = std::max(peak_, in_use_);
}

void ByteBudget::acquire(std::int64_t bytes, std::function<void()> granted) {
  // Later requests never overtake waiting ones: a large part is not starved by small bodies.
  if (waiting_.empty() && fits(bytes)) {
    take(bytes);
    return granted();
  }
  waiting_.emplace_back(bytes, std::move(granted));
}

void ByteBudget::release(std::int64_t bytes) {
  in_use_ -= bytes;
  if (granting_) return;  // The outer release() goes on handing out.
  granting_ = true;
  while (!waiting_.empty() && fits(waiting_.front().first)) {
    auto [next, granted] = std::move(waiting_.front());
    waiting_.pop_front();
    take(next);
    granted();  // May release (a fake answering at once): the loop above picks that up.
  }
  granting_ = false;
}

}  // namespace rehome::engine
