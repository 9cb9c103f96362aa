// One S3 exchange, the part every Client operation shares: sign each attempt, pass through
// the Pacer, send on the loop, classify the answer, and retry what is retryable after a
// backoff timer. Operations describe their request and how to read a 2xx answer; they never
// see a retry. Internal to the s3 module (client.cc is its only user).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "http/loop.h"
#include "s3/addressing.h"
#include "s3/client.h"
#include "s3/pacer.h"
#include "s3/retry.h"
#include "s3/sigv4.h"
#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

/// What one client shares with its exchanges. Held by shared_ptr so an exchange still in
/// flight when its Client is destroyed completes safely.
struct ClientCore {
  http::Loop& loop;
  Pacer& pacer;
  ClientConfig config;
  RetryPolicy retry;
  SigningClock clock;
  ClientStats stats;
  std::mt19937_64 rng;
  SigningKeyCache signing_keys;  // one derived key signs every request of the day
  /// Regions S3 said buckets live in, when not the configured one (learned once, then every
  /// request to the bucket goes there and is signed for it).
  std::map<std::string, std::string> bucket_regions;
  RequestObserver* observer = nullptr;  // told of every attempt (Client::observe)
};

/// An S3 request before signing, and what to make of its answer.
struct ExchangeSpec {
  const char* operation = "";  ///< S3's name for it ("CopyObject"), for the metrics.
  std::string what;            ///< "GET s3://bucket/key at http://host:port", for error messages.
  std::string method;
  std::string bucket;
  std::string key;  ///< Empty for bucket-level requests.
  QueryParams query;
  http::Headers headers;  ///< Signed along with the request (content-md5, x-amz-copy-source...).
  std::string body;       ///< In-memory body, signed by its SHA-256.
  http::BodySource body_source;  ///< Streamed body (sent as UNSIGNED-PAYLOAD).
  std::int64_t body_length = -1;
  http::BodySink body_sink;
  std::chrono::milliseconds timeout{0};  ///< Whole-attempt limit; zero keeps http's default.
  /// Runs before a failed attempt is retried; false means the attempt cannot be repeated.
  std::function<bool()> before_retry;
  /// Reads a 2xx answer; an Error here fails the attempt (and is retried if its kind allows).
  std::function<std::optional<Error>(http::Response&)> accept;
  /// An error the operation counts as success (BucketAlreadyOwnedByYou for create_bucket).
  std::function<bool(const Error&)> tolerate;
};

/// Runs `spec` to its end: `done` gets the final 2xx response (or the tolerated error's
/// response) or the Error of the last attempt.
void run_exchange(std::shared_ptr<ClientCore> core, ExchangeSpec spec,
                  std::function<void(Result<http::Response>)> done);

}  // namespace rehome::s3
