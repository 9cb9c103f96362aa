// The set may hold a fd that curl closed without telling us (the kernel then drops it on its
// own), or miss one curl believes registered: watch() repairs either case with a second call
// instead of failing, so the loop's belief about a socket never has to be exact.
#include "http/epoll.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace rehome::http {

EpollSet::EpollSet() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

EpollSet::~EpollSet() { close(fd_); }

int EpollSet::watch(int fd, std::uint32_t events, bool known) noexcept {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  const int first = known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(fd_, first, fd, &event) == 0) return 0;
  const int error = errno;
  if (error != (known ? ENOENT : EEXIST)) return error;
  const int second = known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  return epoll_ctl(fd_, second, fd, &event) == 0 ? 0 : errno;
}

void EpollSet::forget(int fd) noexcept { epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

std::size_t EpollSet::wait(std::span<epoll_event> out, int timeout_ms) {
  const int n = epoll_wait(fd_, out.data(), static_cast<int>(out.size()), timeout_ms);
  if (n >= 0) return static_cast<std::size_t>(n);
  if (errno == EINTR) return 0;
  throw std::system_error(errno, std::generic_category(), "epoll_wait");
}

}  // namespace rehome::http
