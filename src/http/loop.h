// The one event loop that owns every transfer. A single curl multi handle drives hundreds of
// concurrent requests over reused keep-alive connections; there is no thread per request and
// nothing ever sleeps on the loop. Waiting (backoff, rate limiting) is a timer on this loop.
//
// Only the loop touches the multi handle. A request is a passive value handed to submit();
// its completion callback runs on the loop thread (from run()) after the transfer ends, and may
// submit the next request or set a timer. curl's C callbacks are noexcept: they store an error
// and abort the transfer; the error surfaces in the Response.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rehome::http {

using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;

/// Streams a request body: fill up to `size` bytes at `out`, return the count (0 = end).
/// Runs on the loop thread; must not throw (a thrown exception aborts the transfer).
using BodySource = std::function<std::size_t(char* out, std::size_t size)>;
/// Receives response body bytes as they arrive; return false to abort the transfer.
/// Runs on the loop thread; must not throw.
using BodySink = std::function<bool(std::string_view chunk)>;

/// A request as a value. Headers are sent exactly as given (already signed by the caller).
struct Request {
  std::string method = "GET";
  std::string url;  ///< Fully encoded URL, including the query string.
  Headers headers;
  std::string body;  ///< In-memory body; ignored when body_source is set.
  /// An in-memory body shared with the caller instead of `body` (a retried S3 request sends
  /// the same bytes again without a copy per attempt: large parts are held once).
  std::shared_ptr<const std::string> shared_body;
  BodySource body_source;         ///< Streamed body of body_length bytes.
  std::int64_t body_length = -1;  ///< Required with body_source.
  /// When set, a 2xx body is streamed here, not kept in Response::body; any other status's
  /// body (an error document) still goes to Response::body.
  BodySink body_sink;
  std::chrono::milliseconds timeout{60'000};  ///< Whole-transfer limit.
  std::chrono::milliseconds connect_timeout{10'000};
  /// Abort when fewer than low_speed_bytes/s arrive for low_speed_time (a stalled server).
  long low_speed_bytes = 1;
  std::chrono::seconds low_speed_time{30};
  /// HTTPS: PEM file of the CAs to trust ("" = the system's store), and whether the peer's
  /// certificate and name are checked at all (false only when the user said so).
  std::string ca_bundle;
  bool verify_tls = true;
  /// Never through a proxy (http_proxy, ALL_PROXY...): for link-local agents (the container
  /// credentials endpoint, instance metadata), which a proxy cannot reach and must not see.
  bool no_proxy = false;

  /// The in-memory body, wherever it is held.
  std::string_view body_bytes() const { return shared_body ? *shared_body : body; }
};

/// What came back. `transport_error` is empty when an HTTP response was received in full.
struct Response {
  long status = 0;              ///< HTTP status, 0 when none was received.
  Headers headers;              ///< Names lower-cased.
  std::string body;             ///< Empty when the request had a body_sink.
  int curl_code = 0;            ///< CURLcode; 0 on success.
  std::string transport_error;  ///< Human-readable curl error, e.g. "Connection reset by peer".
  std::chrono::microseconds elapsed{0};

  /// The first header with this lower-case name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

using Completion = std::function<void(Response&&)>;
using TimerId = std::uint64_t;

/// Limits of the connection pool, set once when the loop is made.
struct LoopOptions {
  long max_connections = 512;     ///< CURLMOPT_MAX_TOTAL_CONNECTIONS
  long max_host_connections = 0;  ///< CURLMOPT_MAX_HOST_CONNECTIONS, 0 = same as max_connections
  bool verbose = false;           ///< CURLOPT_VERBOSE to stderr (never used in production logs)
  std::string ca_bundle;          ///< CURLOPT_CAINFO when non-empty
};

/// The event loop. Not thread-safe: every call must come from the thread that calls run(),
/// or before run() starts.
class Loop {
 public:
  explicit Loop(LoopOptions options = {});
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Starts a transfer; `done` runs on the loop once it ends (successfully or not).
  void submit(Request request, Completion done);

  /// Runs `fire` on the loop after `delay`. Returns an id for cancel().
  TimerId after(std::chrono::milliseconds delay, std::function<void()> fire);
  /// Cancels a timer that has not fired yet; no-op otherwise.
  void cancel(TimerId id);

  /// Runs until there is no transfer in flight and no timer pending, or stop() is called.
  void run();
  /// Makes run() return after the current iteration; in-flight transfers stay in flight.
  void stop();

  /// Transfers currently in flight.
  std::size_t in_flight() const;
  /// Connections opened so far (each one a TCP, and for HTTPS a TLS, handshake): with
  /// keep-alive it stays near the number of connections in the pool, whatever the requests.
  std::uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rehome::http
