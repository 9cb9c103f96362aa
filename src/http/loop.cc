// The loop drives one curl multi handle with curl_multi_poll/curl_multi_perform: at the
// hundreds of connections rehome keeps open, poll() costs far less than the server's time per
// request, and it keeps the loop free of socket bookkeeping (no CURLMOPT_SOCKETFUNCTION).
//
// Life of a transfer: submit() takes an easy handle from the pool, configures it from the
// Request and adds it to the multi. When curl reports it done, the handle leaves the multi,
// goes back to the pool (curl_easy_reset keeps its connection cache), and the completion is
// queued. Completions and timers run only between curl calls, so they may submit and set
// timers freely. A completion that throws leaves every other transfer and timer intact: the
// exception escapes run(), and the next run() picks up where it stopped.
#include "http/loop.h"

#include <curl/curl.h>

#include <algorithm>
#include <deque>
#include <queue>
#include <stdexcept>
#include <unordered_map>

#include "http/transfer.h"

namespace rehome::http {

const std::string* Response::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

namespace {

struct MultiDeleter {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;

// Idle easy handles kept beyond this are freed; the connections live in the multi's cache.
constexpr std::size_t kMaxIdleHandles = 1024;
// Upper bound on one poll, so a missed wake-up can never stall the loop for long.
constexpr long kMaxPollMs = 1000;

}  // namespace

struct Loop::Impl {
  struct TimerEntry {
    std::chrono::steady_clock::time_point deadline;
    TimerId id;
    // Earliest deadline on top; equal deadlines fire in the order they were set.
    bool operator>(const TimerEntry& other) const {
      return deadline != other.deadline ? deadline > other.deadline : id > other.id;
    }
  };

  LoopOptions options_;
  MultiHandle multi_;
  std::vector<EasyHandle> idle_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> active_;
  std::deque<std::unique_ptr<Transfer>> completed_;  // done, completion not yet run
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timer_heap_;
  std::unordered_map<TimerId, std::function<void()>> timers_;  // pending; cancelled ones absent
  TimerId next_timer_id_ = 1;
  bool stop_requested_ = false;

  explicit Impl(LoopOptions options) : options_(std::move(options)) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
    multi_.reset(curl_multi_init());
    if (!multi_) {
      curl_global_cleanup();
      throw std::runtime_error("curl_multi_init failed");
    }
    long host_max = options_.max_host_connections > 0 ? options_.max_host_connections
                                                      : options_.max_connections;
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, options_.max_connections);
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, host_max);
    // Keep every connection the pool may open alive between requests.
    curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, options_.max_connections);
  }

  ~Impl() {
    for (auto& [easy, transfer] : active_) curl_multi_remove_handle(multi_.get(), easy);
    multi_.reset();
    active_.clear();
    completed_.clear();
    idle_.clear();
    curl_global_cleanup();
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
    if (CURLMcode rc = curl_multi_add_handle(multi_.get(), easy); rc != CURLM_OK) {
      recycle(std::move(t->easy));
      throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
    }
    active_.emplace(easy, std::move(t));
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
    const auto now = std::chrono::steady_clock::now();
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

  // Milliseconds poll may wait: until the next timer or curl's own deadline, whichever is first.
  int poll_timeout_ms() {
    long wait = kMaxPollMs;
    long curl_wait = -1;
    curl_multi_timeout(multi_.get(), &curl_wait);
    if (curl_wait >= 0) wait = std::min(wait, curl_wait);
    while (!timer_heap_.empty() && !timers_.contains(timer_heap_.top().id)) timer_heap_.pop();
    if (!timer_heap_.empty()) {
      auto left = timer_heap_.top().deadline - std::chrono::steady_clock::now();
      // Round up: waking a fraction early would only spin once more.
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      wait = std::min(wait, static_cast<long>(std::max<std::int64_t>(ms, 0)));
    }
    return static_cast<int>(wait);
  }

  bool idle_now() const { return active_.empty() && completed_.empty() && timers_.empty(); }

  void run() {
    stop_requested_ = false;
    run_completions();  // left over from a run() that a throwing completion ended
    while (!stop_requested_) {
      fire_due_timers();
      if (stop_requested_ || idle_now()) break;
      if (!active_.empty()) {
        int running = 0;
        if (CURLMcode rc = curl_multi_perform(multi_.get(), &running); rc != CURLM_OK) {
          throw std::runtime_error(std::string("curl_multi_perform: ") + curl_multi_strerror(rc));
        }
        collect_finished();
        run_completions();
      }
      if (stop_requested_ || idle_now()) break;
      if (!completed_.empty()) continue;
      if (CURLMcode rc = curl_multi_poll(multi_.get(), nullptr, 0, poll_timeout_ms(), nullptr);
          rc != CURLM_OK) {
        throw std::runtime_error(std::string("curl_multi_poll: ") + curl_multi_strerror(rc));
      }
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
  impl_->timer_heap_.push({std::chrono::steady_clock::now() + delay, id});
  return id;
}

void Loop::cancel(TimerId id) { impl_->timers_.erase(id); }

void Loop::run() { impl_->run(); }

void Loop::stop() {
  impl_->stop_requested_ = true;
  curl_multi_wakeup(impl_->multi_.get());
}

std::size_t Loop::in_flight() const { return impl_->active_.size() + impl_->completed_.size(); }

}  // namespace rehome::http
