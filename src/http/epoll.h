// A small RAII wrapper over one Linux epoll set, for the loop's socket bookkeeping. Internal
// to the http module: only loop.cc uses it.
#pragma once

#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace rehome::http {

/// One epoll fd, level-triggered. Not thread-safe, like the Loop that owns it.
class EpollSet {
 public:
  /// Throws std::system_error when the kernel refuses an epoll fd.
  EpollSet();
  ~EpollSet();
  EpollSet(const EpollSet&) = delete;
  EpollSet& operator=(const EpollSet&) = delete;

  /// Watches `fd` for `events` (EPOLLIN/EPOLLOUT). `known` says whether the set is believed
  /// to hold `fd` already (one syscall when right; a stale belief costs a second). Returns 0 or
  /// the errno of the failure.
  int watch(int fd, std::uint32_t events, bool known) noexcept;
  /// Stops watching `fd`; a fd the set does not hold (or already closed) is not an error.
  void forget(int fd) noexcept;
  /// Waits up to `timeout_ms` for ready fds; returns how many of `out` were filled (0 on
  /// timeout or a signal). Throws std::system_error on any other failure.
  std::size_t wait(std::span<epoll_event> out, int timeout_ms);

 private:
  int fd_;
};

}  // namespace rehome::http
