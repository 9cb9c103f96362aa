// AWS Signature Version 4 as a pure function: request description, credentials and time in,
// headers out. No clock, no globals, so it is checked against AWS's published test vectors.
// (curl 7.88's CURLOPT_AWS_SIGV4 is wrong for S3: see docs/DESIGN.md.)
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "http/loop.h"
#include "s3/types.h"

namespace rehome::s3 {

/// What gets signed. `path` is the already URI-encoded absolute path ("/bucket/a%20b.png");
/// `query` holds decoded name/value pairs (value-less parameters like "delete" have value "").
struct SigningRequest {
  std::string method;
  std::string host;  ///< Host header value, with ":port" when not the default.
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  http::Headers headers;       ///< Extra headers to sign (x-amz-*, content-md5, content-type...).
  std::string payload_sha256;  ///< Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string region;
  std::string service = "s3";
};

/// The pieces of a signature, exposed for tests against the AWS vectors.
struct SigningParts {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  ///< Hex.
};

/// Remembers the last SigV4 signing key derived. The key depends only on the secret and the
/// scope (day, region, service), so every request a client signs on one day reuses it: one
/// HMAC per signature instead of five. Holds a copy of the secret; never print it.
class SigningKeyCache {
 public:
  /// The signing key (raw bytes) for this secret and scope; derived again only on a change.
  const std::string& key(std::string_view secret, std::string_view day, std::string_view region,
                         std::string_view service);

 private:
  std::string secret_, day_, region_, service_, key_;
};

/// Builds canonical request, string to sign and signature. `time` is the request time (UTC).
/// The request must already carry x-amz-date (and x-amz-security-token when used) in headers
/// if they are to be signed; sign_request() below adds them for you. Signs `host` (when
/// non-empty) and exactly `headers`, nothing more. Throws std::invalid_argument when Host is
/// given both ways or payload_sha256 is empty (programmer errors, not server answers).
/// With `keys`, the signing key comes from (and goes to) that cache; the result is the same.
SigningParts compute_signature(const SigningRequest& request, const Credentials& credentials,
                               std::chrono::system_clock::time_point time,
                               SigningKeyCache* keys = nullptr);

/// Returns the headers to add to the request: host, x-amz-date, x-amz-content-sha256,
/// x-amz-security-token (if any) and Authorization, plus the request's own headers. Throws
/// std::invalid_argument when `host` is empty or `headers` already holds one of those.
/// `keys` as for compute_signature().
http::Headers sign_request(const SigningRequest& request, const Credentials& credentials,
                           std::chrono::system_clock::time_point time,
                           SigningKeyCache* keys = nullptr);

/// "20150830T123600Z" and "20150830" for a time point (UTC).
std::string amz_date(std::chrono::system_clock::time_point time);
std::string amz_day(std::chrono::system_clock::time_point time);

}  // namespace rehome::s3
