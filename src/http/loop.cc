// The loop drives one curl multi handle through curl's socket API: curl tells us which sockets
// to watch (CURLMOPT_SOCKETFUNCTION) and when it next needs a call (CURLMOPT_TIMERFUNCTION); one
// epoll set waits on them; curl_multi_socket_action then works only on the sockets that are
// ready. The simpler curl_multi_poll + curl_multi_perform cost too much per object: every
// wake-up rebuilt a poll set over all the hundreds of connections, and curl_multi_perform
// polled each running transfer's socket once more on its own, so the syscalls (and, on a VM,
// the interrupt toggling around them) were most of rehome's CPU per copy (docs/PERFORMANCE.md).
// curl asks to stop watching a keep-alive socket after every response and to watch it again
// for the next request; the loop leaves such a socket in the epoll set ("parked") instead,
// which saves two epoll_ctl calls per request. Only connection sockets are parked: the loop
// opens and closes them itself (CURLOPT_OPENSOCKETFUNCTION/CLOSESOCKETFUNCTION), so what it
// knows about a fd never outlives the socket. A parked socket that wakes up (the server
// closed it) is dropped then; curl's own liveness check finds the dead connection.
//
// Life of a transfer: submit() takes an easy handle from the pool, configures it from the
// Request and adds it to the multi. When curl reports it done, the handle leaves the multi,
// goes back to the pool (curl_easy_reset keeps its connection cache), and the completion is
// queued. Completions and timers run only between curl calls, so they may submit and set
// timers freely. A completion that throws leaves every other transfer and timer intact: the
// exception escapes run(), and the next run() picks up where it stopped.
#include "http/loop.h"

#include <curl/curl.h>

#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "http/epoll.h"
#include "http/transfer.h"

namespace rehome::http {

const std::string* Response::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

namespace {

using Clock = std::chrono::steady_clock;

struct MultiDeleter {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

// Idle easy handles kept beyond this are freed; the connections live in the multi's cache.
constexpr std::size_t kMaxIdleHandles = 1024;
// Upper bound on one wait, so a missed wake-up can never stall the loop for long.
constexpr long kMaxWaitMs = 1000;
// Ready sockets taken from the kernel per wait; more simply wait for the next round.
constexpr std::size_t kMaxEvents = 256;

// What curl should do with a ready socket. An error or hang-up counts as readable and
// writable, as in curl's own poll code: curl's next recv/send then reports the real cause.
int curl_event_mask(std::uint32_t events) {
  int mask = 0;
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) mask |= CURL_CSELECT_IN;
  if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) mask |= CURL_CSELECT_OUT;
  return mask;
}

std::uint32_t epoll_events(int curl_what) {
  std::uint32_t events = 0;
  if ((curl_what & CURL_POLL_IN) != 0) events |= EPOLLIN;
  if ((curl_what & CURL_POLL_OUT) != 0) events |= EPOLLOUT;
  return events;
}

// Milliseconds until `deadline`, rounded up: waking a fraction early would only spin once more.
long ms_until(Clock::time_point deadline, Clock::time_point now) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<long>(std::max<std::int64_t>(ms, 0));
}

}  // namespace

struct Loop::Impl {
  struct TimerEntry {
    Clock::time_point deadline;
    TimerId id;
    // Earliest deadline on top; equal deadlines fire in the order they were set.
    bool operator>(const TimerEntry& other) const {
      return deadline != other.deadline ? deadline > other.deadline : id > other.id;
    }
  };

  LoopOptions options_;
  EpollSet epoll_;  // declared before multi_: curl_multi_cleanup may still tell us of sockets
  MultiHandle multi_;
  std::vector<EasyHandle> idle_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> active_;
  std::deque<std::unique_ptr<Transfer>> completed_;  // done, completion not yet run
  std::uint64_t connections_opened_ = 0;
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timer_heap_;
  std::unordered_map<TimerId, std::function<void()>> timers_;  // pending; cancelled ones absent
  TimerId next_timer_id_ = 1;
  bool stop_requested_ = false;
  std::optional<Clock::time_point> curl_deadline_;  // when curl next wants a timeout call
  int socket_errno_ = 0;  // an epoll_ctl failure inside curl's socket callback
  // What the epoll set holds for each curl socket, indexed by fd.
  struct Watched {
    std::uint32_t events = 0;  // 0: not in the set
    bool parked = false;       // curl no longer waits on it; left in the set for its next request
    bool connection = false;   // opened by on_open_socket, not yet closed by on_close_socket
  };
  std::vector<Watched> watched_;
  std::array<epoll_event, kMaxEvents> events_{};

  explicit Impl(LoopOptions options) : options_(std::move(options)) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
    multi_.reset(curl_multi_init());
    if (!multi_) {
      curl_global_cleanup();
      throw std::runtime_error("curl_multi_init failed");
    }
    CURLM* multi = multi_.get();
    long host_max = options_.max_host_connections > 0 ? options_.max_host_connections
                                                      : options_.max_connections;
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, options_.max_connections);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, host_max);
    // Keep every connection the pool may open alive between requests.
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options_.max_connections);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  }

  ~Impl() {
    for (auto& [easy, transfer] : active_) curl_multi_remove_handle(multi_.get(), easy);
    multi_.reset();
    active_.clear();
    completed_.clear();
    idle_.clear();
    curl_global_cleanup();
  }

  // curl's socket callback: keeps the epoll set in step with what curl waits for.
  static int on_socket(CURL* /*easy*/, curl_socket_t socket, int what, void* user,
                       void* /*socketp*/) noexcept {
    auto* impl = static_cast<Impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      impl->park(socket);
    } else {
      impl->watch(socket, epoll_events(what));
    }
    return 0;
  }

  Watched& watched(curl_socket_t socket) {
    if (socket_index(socket) >= watched_.size()) watched_.resize(socket_index(socket) + 64);
    return watched_[socket_index(socket)];
  }

  // curl is done with the socket for now. A connection socket stays in the set for its next
  // request; any other (a resolver's, say) leaves it, as curl may close it without telling.
  void park(curl_socket_t socket) noexcept {
    if (socket_index(socket) >= watched_.size()) return;
    Watched& w = watched_[socket_index(socket)];
    if (w.connection && w.events != 0) {
      w.parked = true;
      return;
    }
    epoll_.forget(socket);
    w.events = 0;
  }

  void watch(curl_socket_t socket, std::uint32_t events) noexcept {
    try {
      Watched& w = watched(socket);
      const bool was_parked = std::exchange(w.parked, false);
      if (was_parked && w.events == events) return;  // already in the set, as wanted
      if (int error = epoll_.watch(socket, events, w.events != 0)) {
        socket_errno_ = error;  // raised once curl returns (C callbacks never throw)
        return;
      }
      w.events = events;
    } catch (const std::bad_alloc&) {
      socket_errno_ = ENOMEM;
    }
  }

  // A parked socket that is ready was closed (or written to) by the server while idle: stop
  // watching it, or level-triggered epoll would report it on every round.
  void drop_parked(curl_socket_t socket) noexcept {
    epoll_.forget(socket);
    Watched& w = watched_[socket_index(socket)];
    w.events = 0;
    w.parked = false;
  }

  // curl's socket factory for connections. Close-on-exec keeps them out of child processes.
  static curl_socket_t on_open_socket(void* user, curlsocktype /*purpose*/,
                                      curl_sockaddr* address) noexcept {
    auto* impl = static_cast<Impl*>(user);
    int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    try {
      impl->watched(fd) = Watched{0, false, true};
    } catch (const std::bad_alloc&) {
      close(fd);
      return CURL_SOCKET_BAD;
    }
    return fd;
  }

  // curl closes every socket on_open_socket made through here, so a parked one leaves the set
  // (and the loop's books) before its fd number can be reused.
  static int on_close_socket(void* user, curl_socket_t socket) noexcept {
    auto* impl = static_cast<Impl*>(user);
    if (socket_index(socket) < impl->watched_.size()) {
      Watched& w = impl->watched_[socket_index(socket)];
      if (w.events != 0) impl->epoll_.forget(socket);
      w = Watched{};
    }
    return close(socket);
  }

  static std::size_t socket_index(curl_socket_t socket) { return static_cast<std::size_t>(socket); }

  // curl's timer callback: remember the deadline; the loop's wait honours it.
  static int on_timer(CURLM* /*multi*/, long timeout_ms, void* user) noexcept {
    auto* impl = static_cast<Impl*>(user);
    if (timeout_ms < 0) {
      impl->curl_deadline_.reset();
    } else {
      impl->curl_deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
  }

  EasyHandle take_handle() {
    if (!idle_.empty()) {
      EasyHandle easy = std::move(idle_.back());
      idle_.pop_back();
      return easy;
    }
    EasyHandle easy(curl_easy_init());
    if (!easy) throw std::runtime_error("curl_easy_init failed");
    return easy;
  }

  void recycle(EasyHandle easy) {
    if (idle_.size() >= kMaxIdleHandles) return;
    curl_easy_reset(easy.get());  // keeps live connections and the DNS cache
    idle_.push_back(std::move(easy));
  }

  void submit(Request request, Completion done) {
    if (request.body_source && request.body_length < 0) {
      throw std::invalid_argument("http::Request: body_source needs body_length");
    }
    auto t = std::make_unique<Transfer>();
    t->request = std::move(request);
    t->done = std::move(done);
    t->easy = take_handle();
    try {
      configure_transfer(*t, options_);
    } catch (...) {
      recycle(std::move(t->easy));
      throw;
    }
    CURL* easy = t->easy.get();
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
    // Adding sets curl's timer to "now": the loop's next round starts the transfer.
    if (CURLMcode rc = curl_multi_add_handle(multi_.get(), easy); rc != CURLM_OK) {
      recycle(std::move(t->easy));
      throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
    }
    active_.emplace(easy, std::move(t));
  }

  // Lets curl work on one ready socket (or, with CURL_SOCKET_TIMEOUT, on its due timers).
  void socket_action(curl_socket_t socket, int mask) {
    int running = 0;
    if (CURLMcode rc = curl_multi_socket_action(multi_.get(), socket, mask, &running);
        rc != CURLM_OK) {
      throw std::runtime_error(std::string("curl_multi_socket_action: ") + curl_multi_strerror(rc));
    }
    if (socket_errno_ != 0) {
      int error = std::exchange(socket_errno_, 0);
      throw std::system_error(error, std::generic_category(), "epoll_ctl");
    }
  }

  // One round of waiting: sleeps until a socket is ready, curl's deadline or the next timer,
  // then hands curl the ready sockets and, when due, its timeout.
  void drive_curl() {
    const std::size_t ready = epoll_.wait(events_, wait_timeout_ms());
    for (std::size_t i = 0; i < ready; ++i) {
      const int socket = events_[i].data.fd;
      if (watched_[socket_index(socket)].parked) {
        drop_parked(socket);
      } else {
        socket_action(socket, curl_event_mask(events_[i].events));
      }
    }
    if (curl_deadline_ && *curl_deadline_ <= Clock::now()) {
      curl_deadline_.reset();  // curl sets the next one from inside the call
      socket_action(CURL_SOCKET_TIMEOUT, 0);
    } else if (ready == 0 && !active_.empty()) {
      socket_action(CURL_SOCKET_TIMEOUT, 0);  // a quiet round: let curl check its transfers
    }
  }

  // Moves every finished transfer out of the multi handle and into `completed_`.
  void collect_finished() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode code = msg->data.result;  // read before remove_handle frees the message
      auto it = active_.find(easy);
      if (it == active_.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      active_.erase(it);
      curl_multi_remove_handle(multi_.get(), easy);
      long connects = 0;
      curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
      connections_opened_ += static_cast<std::uint64_t>(std::max(connects, 0L));
      finish_transfer(*t, code);
      recycle(std::move(t->easy));
      completed_.push_back(std::move(t));
    }
  }

  // Runs queued completions. One that throws is already dequeued; the rest wait for the next run().
  void run_completions() {
    while (!completed_.empty() && !stop_requested_) {
      std::unique_ptr<Transfer> t = std::move(completed_.front());
      completed_.pop_front();
      Completion done = std::move(t->done);
      Response response = std::move(t->response);
      t.reset();
      if (done) done(std::move(response));
    }
  }

  void fire_due_timers() {
    const auto now = Clock::now();
    while (!timer_heap_.empty() && !stop_requested_) {
      TimerEntry top = timer_heap_.top();
      if (top.deadline > now) break;
      timer_heap_.pop();
      auto it = timers_.find(top.id);
      if (it == timers_.end()) continue;  // cancelled
      std::function<void()> fire = std::move(it->second);
      timers_.erase(it);
      if (fire) fire();
    }
  }

  // Milliseconds the wait may last: until curl's deadline or the next timer, whichever is first.
  int wait_timeout_ms() {
    const auto now = Clock::now();
    long wait = kMaxWaitMs;
    if (curl_deadline_) wait = std::min(wait, ms_until(*curl_deadline_, now));
    while (!timer_heap_.empty() && !timers_.contains(timer_heap_.top().id)) timer_heap_.pop();
    if (!timer_heap_.empty()) wait = std::min(wait, ms_until(timer_heap_.top().deadline, now));
    return static_cast<int>(wait);
  }

  bool idle_now() const { return active_.empty() && completed_.empty() && timers_.empty(); }

  void run() {
    stop_requested_ = false;
    run_completions();  // left over from a run() that a throwing completion ended
    while (!stop_requested_) {
      fire_due_timers();
      if (stop_requested_ || idle_now()) break;
      drive_curl();
      collect_finished();
      run_completions();
    }
  }
};

Loop::Loop(LoopOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Loop::~Loop() = default;

void Loop::submit(Request request, Completion done) {
  impl_->submit(std::move(request), std::move(done));
}

TimerId Loop::after(std::chrono::milliseconds delay, std::function<void()> fire) {
  TimerId id = impl_->next_timer_id_++;
  impl_->timers_.emplace(id, std::move(fire));
  impl_->timer_heap_.push({Clock::now() + delay, id});
  return id;
}

void Loop::cancel(TimerId id) { impl_->timers_.erase(id); }

void Loop::run() { impl_->run(); }

// Called from the loop thread (a completion or a timer), so run() sees the flag as soon as
// that callback returns: there is no wait to interrupt.
void Loop::stop() { impl_->stop_requested_ = true; }

std::size_t Loop::in_flight() const { return impl_->active_.size() + impl_->completed_.size(); }

std::uint64_t Loop::connections_opened() const { return impl_->connections_opened_; }

}  // namespace rehome::http
