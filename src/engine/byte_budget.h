// A budget of bytes held in memory at once, shared by every streamed copy: a copy asks for the
// bytes of the body (or part) it is about to read and gives them back once that body has been
// written. Requests wait in order when the budget is spent, so memory stays bounded whatever
// the object sizes and however many copies are in flight. Loop-thread only, like the Copier.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <utility>

namespace rehome::engine {

class ByteBudget {
 public:
  explicit ByteBudget(std::int64_t capacity) : capacity_(capacity) {}

  /// Runs `granted` once `bytes` fit (now, or from a later release()). A request larger than
  /// the whole budget is granted when nothing else is held, so it cannot wait forever.
  void acquire(std::int64_t bytes, std::function<void()> granted);
  /// Gives `bytes` back and grants waiting requests, first come first served.
  void release(std::int64_t bytes);

  std::int64_t capacity() const { return capacity_; }
  std::int64_t in_use() const { return in_use_; }
  /// The most ever held at once.
  std::int64_t peak() const { return peak_; }
  std::size_t waiting() const { return waiting_.size(); }

 private:
  bool fits(std::int64_t bytes) const { return in_use_ == 0 || in_use_ + bytes <= capacity_; }
  void take(std::int64_t bytes);

  std::int64_t capacity_;
  std::int64_t in_use_ = 0;
  std::int64_t peak_ = 0;
  std::deque<std::pair<std::int64_t, std::function<void()>>> waiting_;
  bool granting_ = false;  // release() is already handing out: no nested hand-outs.
};

}  // namespace rehome::engine
