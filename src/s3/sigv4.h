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

/// Builds canonical request, string to sign and signature. `time` is the request time (UTC).
/// The request must already carry x-amz-date (and x-amz-security-token when used) in headers
/// if they are to be signed; sign_request() below adds them for you. Signs `host` (when
/// non-empty) and exactly `headers`, nothing more. Throws std::invalid_argument when Host is
/// given both ways or payload_sha256 is empty (programmer errors, not server answers).
SigningParts compute_signature(const SigningRequest& request, const Credentials& credentials,
                               std::chrono::system_clock::time_point time);

/// Returns the headers to add to the request: host, x-amz-date, x-amz-content-sha256,
/// x-amz-security-token (if any) and Authorization, plus the request's own headers. Throws
/// std::invalid_argument when `host` is empty or `headers` already holds one of those.
http::Headers sign_request(const SigningRequest& request, const Credentials& credentials,
                           std::chrono::system_clock::time_point time);

/// "20150830T123600Z" and "20150830" for a time point (UTC).
std::string amz_date(std::chrono::system_clock::time_point time);
std::string amz_day(std::chrono::system_clock::time_point time);

}  // namespace rehome::s3
