// Each attempt is signed afresh (x-amz-date must be current: a retry minutes later with the
// first attempt's signature would be refused as skewed) and holds a Pacer slot only while on
// the wire, so a request waiting out its backoff does not block others.
#include "s3/exchange.h"

#include <fmt/format.h>

#include <exception>
#include <utility>

#include "s3/errors.h"
#include "s3/refreshing_credentials.h"
#include "s3/sigv4.h"
#include "util/crypto.h"

namespace rehome::s3 {

namespace {

constexpr const char* kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of no bytes: most requests (COPY, HEAD, GET, LIST) have an empty body.
constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Exchange {
  std::shared_ptr<ClientCore> core;
  ExchangeSpec spec;
  std::function<void(Result<http::Response>)> done;
  RequestTarget target;
  SigningRequest signing;                   // what every attempt signs; only the time changes
  std::shared_ptr<const std::string> body;  // sent by every attempt, never copied per attempt
  int attempt = 0;                          // attempts sent so far
  bool sink_refused = false;
  bool region_learned = false;  // re-sent once already for a region S3 named
  std::string signed_with;      // the access key id the last attempt was signed with
  std::chrono::steady_clock::time_point sent_at;  // when the last attempt was sent
  // Since when the attempt has waited for credentials that lapsed (a refresh that keeps
  // failing); unset while they work.
  std::optional<std::chrono::steady_clock::time_point> waiting_for_credentials;
  bool on_the_wire = false;  // sent, not yet answered: the observer counts it in flight

  Exchange() = default;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  // A loop destroyed with this attempt in flight drops its completion, and with it this
  // exchange: the observer hears it is no longer in flight.
  ~Exchange() {
    if (on_the_wire && core && core->observer) core->observer->abandoned(spec.operation);
  }
};
using ExchangePtr = std::shared_ptr<Exchange>;

void queue_attempt(const ExchangePtr& x);

// The endpoint a bucket's requests go to: the configured one, or, once S3 said the bucket lives
// in another region, that region (AWS's regional host; any other store keeps its URL).
Endpoint endpoint_for(const ClientCore& core, const std::string& bucket) {
  Endpoint endpoint = core.config.endpoint;
  auto it = core.bucket_regions.find(bucket);
  if (it == core.bucket_regions.end() || it->second == endpoint.region) return endpoint;
  endpoint.region = it->second;
  // AWS's public S3 hosts move to the region's; a FIPS, dual-stack or VPC endpoint, or another
  // store, keeps its host, and only the signing region changes.
  if (auto regional = aws_regional_url(endpoint.url, it->second)) endpoint.url = *regional;
  return endpoint;
}

// Points an exchange at where its bucket lives now (after a region was learned).
void retarget(Exchange& x) {
  const Endpoint endpoint = endpoint_for(*x.core, x.spec.bucket);
  x.target = make_target(endpoint, x.spec.bucket, x.spec.key, x.signing.query);
  x.signing.host = x.target.host;
  x.signing.path = x.target.path;
  x.signing.region = endpoint.region;
}

// The region S3 says the bucket lives in, when this answer refused the request for being sent
// to or signed for another one (301 PermanentRedirect, 400 AuthorizationHeaderMalformed, 307):
// from x-amz-bucket-region, else the error document's <Region>.
std::optional<std::string> redirected_region(const Exchange& x, const http::Response& response) {
  if (response.curl_code != 0 || x.spec.bucket.empty()) return std::nullopt;
  if (response.status != 301 && response.status != 307 && response.status != 400) {
    return std::nullopt;
  }
  std::string region;
  if (const std::string* header = response.header("x-amz-bucket-region")) region = *header;
  if (region.empty()) {
    const auto open = response.body.find("<Region>");
    const auto close = response.body.find("</Region>");
    if (open != std::string::npos && close != std::string::npos && close > open + 8) {
      region = response.body.substr(open + 8, close - open - 8);
    }
  }
  const bool plausible =
      !region.empty() && region.size() <= 32 &&
      region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
  if (!plausible || region == x.signing.region) return std::nullopt;
  return region;
}

// Moves the parts of `spec` only signing needs (query, headers) out of it.
SigningRequest signing_request(ExchangeSpec& spec, const RequestTarget& target,
                               const ClientCore& core) {
  SigningRequest signing;
  signing.method = spec.method;
  signing.host = target.host;
  signing.path = target.path;
  signing.query = std::move(spec.query);
  signing.headers = std::move(spec.headers);
  signing.payload_sha256 = spec.body_source    ? kUnsignedPayload
                           : spec.body.empty() ? kEmptySha256
                                               : to_hex(sha256(spec.body));
  signing.region = core.config.endpoint.region;
  return signing;
}

http::Request build_request(Exchange& x) {
  ClientCore& core = *x.core;
  auto now = core.clock ? core.clock() : std::chrono::system_clock::now();

  http::Request request;
  request.method = x.spec.method;
  request.url = x.target.url;
  const Credentials credentials =
      core.config.refreshing ? core.config.refreshing->current() : core.config.credentials;
  x.signed_with = credentials.access_key_id;
  request.headers = sign_request(x.signing, credentials, now, &core.signing_keys);
  if (x.spec.body_source) {
    request.body_source = x.spec.body_source;
    request.body_length = x.spec.body_length;
  } else {
    request.shared_body = x.body;
  }
  if (x.spec.timeout.count() > 0) request.timeout = x.spec.timeout;
  request.ca_bundle = core.config.endpoint.ca_bundle;
  request.verify_tls = core.config.endpoint.verify_tls;
  if (x.spec.body_sink) {
    // The transfer holds a reference to the exchange (in its completion) while it runs.
    request.body_sink = [raw = &x](std::string_view chunk) {
      if (raw->spec.body_sink(chunk)) return true;
      raw->sink_refused = true;
      return false;
    };
  }
  return request;
}

void finish(const ExchangePtr& x, Result<http::Response> result) {
  auto done = std::move(x->done);
  if (!result) ++x->core->stats.failures;
  done(std::move(result));
}

// What went wrong with this answer, or nullopt when it is a success.
std::optional<Error> judge(Exchange& x, http::Response& response) {
  const bool complete = response.curl_code == 0 && response.status >= 200 && response.status < 300;
  if (!complete) {
    Error error = make_error(x.spec.what, response, x.signed_with);
    if (x.sink_refused) {
      error.kind = ErrorKind::kPermanent;  // the caller chose to stop; repeating would not help
      error.message = x.spec.what + ": the body sink refused the data";
    }
    return error;
  }
  if (!x.spec.accept) return std::nullopt;
  std::optional<Error> error = x.spec.accept(response);
  if (error) error->message = x.spec.what + ": " + error->message;
  return error;
}

void on_response(const ExchangePtr& x, http::Response&& response) {
  ClientCore& core = *x->core;
  x->on_the_wire = false;
  if (core.observer) {
    core.observer->answered(x->spec.operation,
                            response.curl_code == 0 ? static_cast<int>(response.status) : 0,
                            std::chrono::steady_clock::now() - x->sent_at);
  }
  std::optional<Error> error = judge(*x, response);
  // Whatever it answered (a 404 for a twin that is not there yet, a 412), the server took the
  // request unless it throttled it or never answered: that is the rate a cut starts from. The
  // pacer hears it before the slot is freed, so that the next start obeys a cut.
  if (response.status != 0 && (!error || error->kind != ErrorKind::kThrottled)) {
    core.pacer.on_success(x->sent_at);
  }
  if (error && error->kind == ErrorKind::kThrottled) {
    ++core.stats.throttled;
    if (core.observer) core.observer->throttled(x->spec.operation);
    core.pacer.on_throttled(x->sent_at);
  }
  core.pacer.release();
  if (!error || (x->spec.tolerate && x->spec.tolerate(*error))) {
    finish(x, std::move(response));
    return;
  }
  // The bucket lives in another region: learn it (for every later request to the bucket) and
  // send this one again there, signed for it, at once.
  if (!x->region_learned) {
    if (auto region = redirected_region(*x, response)) {
      x->region_learned = true;
      core.bucket_regions[x->spec.bucket] = *region;  // later requests go there directly
      // This one is sent again only if it can be (a body to rewind, a caller's check).
      if (!x->spec.before_retry || x->spec.before_retry()) {
        retarget(*x);
        queue_attempt(x);
        return;
      }
    }
  }
  // Temporary credentials the server no longer takes: refresh them and try again shortly (the
  // refresh runs on its own thread; the retry signs with whatever is current then). Keys
  // without a session token that the server removed at their expiry (radosgw, MinIO, a
  // credential_process rotating keys) are refused as AccessDenied or InvalidAccessKeyId: the
  // same, when the key the request was signed with is no longer current or past its time.
  const bool expired_code = error->code == "ExpiredToken" ||
                            error->code == "TokenRefreshRequired" || error->code == "InvalidToken";
  const bool refused_stale_key =
      (error->code == "AccessDenied" || error->code == "InvalidAccessKeyId") &&
      core.config.refreshing && core.config.refreshing->stale(x->signed_with);
  if (core.config.refreshing && (expired_code || refused_stale_key) &&
      x->attempt < core.retry.max_attempts && (!x->spec.before_retry || x->spec.before_retry())) {
    core.config.refreshing->expired(x->signed_with);
    ++core.stats.retries;
    if (core.observer) core.observer->retried(x->spec.operation);
    core.loop.after(std::chrono::seconds(2), [x] { queue_attempt(x); });
    return;
  }
  if (should_retry(core.retry, error->kind, x->attempt) &&
      (!x->spec.before_retry || x->spec.before_retry())) {
    ++core.stats.retries;
    if (core.observer) core.observer->retried(x->spec.operation);
    x->sink_refused = false;
    auto delay = backoff_delay(core.retry, x->attempt, error->retry_after_ms, core.rng);
    core.loop.after(delay, [x] { queue_attempt(x); });
    return;
  }
  finish(x, std::move(*error));
}

void send(const ExchangePtr& x) {
  ClientCore& core = *x->core;
  ++x->attempt;
  ++core.stats.requests;
  x->sent_at = std::chrono::steady_clock::now();
  try {
    core.loop.submit(build_request(*x),
                     [x](http::Response&& response) { on_response(x, std::move(response)); });
    // After the submit: one that throws never reached the wire (nor the in-flight gauge).
    if (core.observer) core.observer->sent(x->spec.operation);
    x->on_the_wire = true;
  } catch (...) {
    core.pacer.release();  // the slot was never used; keep the pacer's count honest
    throw;
  }
}

// Credentials that lapsed (past their expiration, the refresh failing) would only be refused:
// the attempt waits for new ones, a second at a time, without using up an attempt. Past the
// patience the request fails with the source's last failure: the job stops and says why.
constexpr auto kLapsedPatience = std::chrono::minutes(5);

void queue_attempt(const ExchangePtr& x) {
  ClientCore& core = *x->core;
  if (core.config.refreshing && core.config.refreshing->lapsed()) {
    const auto now = std::chrono::steady_clock::now();
    if (!x->waiting_for_credentials) x->waiting_for_credentials = now;
    if (now - *x->waiting_for_credentials < kLapsedPatience) {
      core.loop.after(std::chrono::seconds(1), [x] { queue_attempt(x); });
      return;
    }
    Error e = Error::of(
        ErrorKind::kAccessDenied,
        fmt::format("{}: the credentials from {} expired and could not be refreshed for {} "
                    "minutes ({}): fix the source, then rerun to resume",
                    x->spec.what, core.config.refreshing->source(),
                    std::chrono::duration_cast<std::chrono::minutes>(kLapsedPatience).count(),
                    core.config.refreshing->last_failure().value_or("no answer")),
        "ExpiredToken");
    return finish(x, std::move(e));
  }
  x->waiting_for_credentials.reset();
  core.pacer.acquire([x] { send(x); });
}

}  // namespace

void run_exchange(std::shared_ptr<ClientCore> core, ExchangeSpec spec,
                  std::function<void(Result<http::Response>)> done) {
  auto x = std::make_shared<Exchange>();
  const Endpoint endpoint = endpoint_for(*core, spec.bucket);
  x->target = make_target(endpoint, spec.bucket, spec.key, spec.query);
  x->signing = signing_request(spec, x->target, *core);
  x->signing.region = endpoint.region;
  x->body = std::make_shared<const std::string>(std::move(spec.body));
  x->core = std::move(core);
  x->spec = std::move(spec);
  x->done = std::move(done);
  queue_attempt(x);
}

}  // namespace rehome::s3
