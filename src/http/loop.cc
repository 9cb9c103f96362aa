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
#include <cctype>
#include <climits>
#include <deque>
#include <exception>
#include <queue>
#include <stdexcept>
#include <unordered_map>

namespace rehome::http {

const std::string* Response::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

namespace {

struct EasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

// Idle easy handles kept beyond this are freed; the connections live in the multi's cache.
constexpr std::size_t kMaxIdleHandles = 1024;
// Upper bound on one poll, so a missed wake-up can never stall the loop for long.
constexpr long kMaxPollMs = 1000;

bool has_header(const Headers& headers, std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(), [&](const Header& h) {
    return h.first.size() == lower_name.size() &&
           std::equal(h.first.begin(), h.first.end(), lower_name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// One request in flight: the values curl's callbacks read and write while it runs.
struct Transfer {
  Request request;
  Completion done;
  Response response;
  EasyHandle easy;
  HeaderList header_list;
  std::size_t upload_offset = 0;  // into request.body, for in-memory uploads
  std::string callback_error;     // set by a callback that failed; reported over curl's text
  char error_buffer[CURL_ERROR_SIZE] = {};

  bool sink_takes_body() const {
    if (!request.body_sink) return false;
    // Only a 2xx body is the caller's data; an error document stays in Response::body.
    long status = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
  }
};

namespace {

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t total = size * count;
  try {
    std::string_view line(data, total);
    if (line.starts_with("HTTP/")) {
      t->response.headers.clear();  // a new response (after 100 Continue or a redirect)
      return total;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return total;  // the blank line ending the headers
    t->response.headers.emplace_back(lower(trim(line.substr(0, colon))),
                                     std::string(trim(line.substr(colon + 1))));
    return total;
  } catch (const std::exception& e) {
    t->callback_error = std::string("reading response headers: ") + e.what();
  } catch (...) {
    t->callback_error = "reading response headers: unknown exception";
  }
  return 0;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t total = size * count;
  try {
    if (t->sink_takes_body()) {
      if (t->request.body_sink(std::string_view(data, total))) return total;
      t->callback_error = "the body sink refused the response body";
      return 0;
    }
    t->response.body.append(data, total);
    return total;
  } catch (const std::exception& e) {
    t->callback_error = std::string("receiving the response body: ") + e.what();
  } catch (...) {
    t->callback_error = "receiving the response body: unknown exception";
  }
  return 0;
}

std::size_t on_read(char* out, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t room = size * count;
  try {
    if (t->request.body_source) return t->request.body_source(out, room);
    const std::string& body = t->request.body;
    std::size_t n = std::min(room, body.size() - t->upload_offset);
    std::copy_n(body.data() + t->upload_offset, n, out);
    t->upload_offset += n;
    return n;
  } catch (const std::exception& e) {
    t->callback_error = std::string("sending the request body: ") + e.what();
  } catch (...) {
    t->callback_error = "sending the request body: unknown exception";
  }
  return CURL_READFUNC_ABORT;
}

// curl rewinds the body when it re-sends a request on a fresh connection (the reused one had
// died). An in-memory body can go back to any point; a streamed one cannot.
int on_seek(void* user, curl_off_t offset, int origin) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (t->request.body_source || origin != SEEK_SET || offset < 0 ||
      static_cast<std::uint64_t>(offset) > t->request.body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->upload_offset = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

curl_off_t upload_length(const Request& r) {
  return r.body_source ? static_cast<curl_off_t>(r.body_length)
                       : static_cast<curl_off_t>(r.body.size());
}

void configure_method(CURL* easy, Transfer& t) {
  const Request& r = t.request;
  const bool has_body = r.body_source || !r.body.empty();
  if (r.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (r.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);  // CUSTOMREQUEST HEAD would wait for a body
  } else if (r.method == "POST" && !r.body_source) {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());  // Transfer owns the bytes
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  } else if (r.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, upload_length(r));
  } else if (r.method == "PUT" || has_body) {
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, upload_length(r));
    if (r.method != "PUT") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());  // DELETE and friends
  }
}

HeaderList build_header_list(const Request& r) {
  curl_slist* list = nullptr;
  auto add = [&list](const std::string& line) {
    curl_slist* grown = curl_slist_append(list, line.c_str());
    if (grown == nullptr) {
      curl_slist_free_all(list);
      throw std::bad_alloc();
    }
    list = grown;
  };
  for (const auto& [name, value] : r.headers) {
    // "Name;" is curl's spelling of a header with an empty value ("Name:" would remove it).
    add(value.empty() ? name + ";" : name + ": " + value);
  }
  // S3 answers 100-continue promptly, but waiting for it costs a round trip per PUT.
  if (!has_header(r.headers, "expect")) add("Expect:");
  // curl would label a POST body as a web form; S3 signs what it is sent, so send no label.
  if (r.method == "POST" && !has_header(r.headers, "content-type")) add("Content-Type:");
  if (!has_header(r.headers, "accept")) add("Accept:");
  return HeaderList(list);
}

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

  LoopOptions options;
  MultiHandle multi;
  std::vector<EasyHandle> idle;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> active;
  std::deque<std::unique_ptr<Transfer>> completed;  // done, completion not yet run
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timer_heap;
  std::unordered_map<TimerId, std::function<void()>> timers;  // pending; cancelled ones absent
  TimerId next_timer_id = 1;
  bool stop_requested = false;

  explicit Impl(LoopOptions o) : options(std::move(o)) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
    multi.reset(curl_multi_init());
    if (!multi) {
      curl_global_cleanup();
      throw std::runtime_error("curl_multi_init failed");
    }
    long host_max = options.max_host_connections > 0 ? options.max_host_connections
                                                     : options.max_connections;
    curl_multi_setopt(multi.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, options.max_connections);
    curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, host_max);
    // Keep every connection the pool may open alive between requests.
    curl_multi_setopt(multi.get(), CURLMOPT_MAXCONNECTS, options.max_connections);
  }

  ~Impl() {
    for (auto& [easy, transfer] : active) curl_multi_remove_handle(multi.get(), easy);
    multi.reset();
    active.clear();
    completed.clear();
    idle.clear();
    curl_global_cleanup();
  }

  EasyHandle take_handle() {
    if (!idle.empty()) {
      EasyHandle easy = std::move(idle.back());
      idle.pop_back();
      return easy;
    }
    EasyHandle easy(curl_easy_init());
    if (!easy) throw std::runtime_error("curl_easy_init failed");
    return easy;
  }

  void recycle(EasyHandle easy) {
    if (idle.size() >= kMaxIdleHandles) return;
    curl_easy_reset(easy.get());  // keeps live connections and the DNS cache
    idle.push_back(std::move(easy));
  }

  void configure(Transfer& t) {
    CURL* easy = t.easy.get();
    const Request& r = t.request;
    curl_easy_setopt(easy, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);  // keys may hold "../" and "./"
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, r.low_speed_bytes);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, static_cast<long>(r.low_speed_time.count()));
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error_buffer);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(easy, CURLOPT_READDATA, &t);
    curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(easy, CURLOPT_SEEKDATA, &t);
    if (options.verbose) curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
    if (!options.ca_bundle.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_bundle.c_str());
    configure_method(easy, t);
    t.header_list = build_header_list(r);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.header_list.get());
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
      configure(*t);
    } catch (...) {
      recycle(std::move(t->easy));
      throw;
    }
    CURL* easy = t->easy.get();
    if (CURLMcode rc = curl_multi_add_handle(multi.get(), easy); rc != CURLM_OK) {
      recycle(std::move(t->easy));
      throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(rc));
    }
    active.emplace(easy, std::move(t));
  }

  // Moves every finished transfer out of the multi and into `completed`.
  void collect_finished() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode code = msg->data.result;  // read before remove_handle frees the message
      auto it = active.find(easy);
      if (it == active.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      active.erase(it);
      curl_multi_remove_handle(multi.get(), easy);
      finish(*t, code);
      recycle(std::move(t->easy));
      completed.push_back(std::move(t));
    }
  }

  static void finish(Transfer& t, CURLcode code) {
    Response& r = t.response;
    CURL* easy = t.easy.get();
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_off_t total_us = 0;
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
    r.elapsed = std::chrono::microseconds(total_us);
    r.curl_code = static_cast<int>(code);
    if (code == CURLE_OK) return;
    if (!t.callback_error.empty()) {
      r.transport_error = t.callback_error;
    } else if (t.error_buffer[0] != '\0') {
      r.transport_error = t.error_buffer;
    } else {
      r.transport_error = curl_easy_strerror(code);
    }
  }

  // Runs queued completions. One that throws is already dequeued; the rest wait for the next run().
  void run_completions() {
    while (!completed.empty() && !stop_requested) {
      std::unique_ptr<Transfer> t = std::move(completed.front());
      completed.pop_front();
      Completion done = std::move(t->done);
      Response response = std::move(t->response);
      t.reset();
      if (done) done(std::move(response));
    }
  }

  void fire_due_timers() {
    const auto now = std::chrono::steady_clock::now();
    while (!timer_heap.empty() && !stop_requested) {
      TimerEntry top = timer_heap.top();
      if (top.deadline > now) break;
      timer_heap.pop();
      auto it = timers.find(top.id);
      if (it == timers.end()) continue;  // cancelled
      std::function<void()> fire = std::move(it->second);
      timers.erase(it);
      if (fire) fire();
    }
  }

  // Milliseconds poll may wait: until the next timer or curl's own deadline, whichever is first.
  int poll_timeout_ms() {
    long wait = kMaxPollMs;
    long curl_wait = -1;
    curl_multi_timeout(multi.get(), &curl_wait);
    if (curl_wait >= 0) wait = std::min(wait, curl_wait);
    while (!timer_heap.empty() && !timers.contains(timer_heap.top().id)) timer_heap.pop();
    if (!timer_heap.empty()) {
      auto left = timer_heap.top().deadline - std::chrono::steady_clock::now();
      // Round up: waking a fraction early would only spin once more.
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      wait = std::min(wait, static_cast<long>(std::max<std::int64_t>(ms, 0)));
    }
    return static_cast<int>(wait);
  }

  bool idle_now() const { return active.empty() && completed.empty() && timers.empty(); }

  void run() {
    stop_requested = false;
    run_completions();  // left over from a run() that a throwing completion ended
    while (!stop_requested) {
      fire_due_timers();
      if (stop_requested || idle_now()) break;
      if (!active.empty()) {
        int running = 0;
        if (CURLMcode rc = curl_multi_perform(multi.get(), &running); rc != CURLM_OK) {
          throw std::runtime_error(std::string("curl_multi_perform: ") + curl_multi_strerror(rc));
        }
        collect_finished();
        run_completions();
      }
      if (stop_requested || idle_now()) break;
      if (!completed.empty()) continue;
      if (CURLMcode rc = curl_multi_poll(multi.get(), nullptr, 0, poll_timeout_ms(), nullptr);
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
  TimerId id = impl_->next_timer_id++;
  impl_->timers.emplace(id, std::move(fire));
  impl_->timer_heap.push({std::chrono::steady_clock::now() + delay, id});
  return id;
}

void Loop::cancel(TimerId id) { impl_->timers.erase(id); }

void Loop::run() { impl_->run(); }

void Loop::stop() {
  impl_->stop_requested = true;
  curl_multi_wakeup(impl_->multi.get());
}

std::size_t Loop::in_flight() const { return impl_->active.size() + impl_->completed.size(); }

}  // namespace rehome::http
