// S3 failures, classified in one place into kinds a caller can act on.
#pragma once

#include <string>
#include <string_view>

#include "http/loop.h"
#include "util/result.h"

namespace rehome::s3 {

/// The <Error> document S3 sends with a failure (and sometimes with a 200, for CopyObject).
struct S3ErrorBody {
  std::string code;  ///< "SlowDown", "NoSuchKey", "SignatureDoesNotMatch"...
  std::string message;
  std::string request_id;
};

/// Parses an <Error> document; returns false when `xml` is not one.
bool parse_error_body(std::string_view xml, S3ErrorBody& out);

/// Pure classification table: HTTP status, curl code (0 = none) and S3 error code -> kind.
/// 503 SlowDown / 429 -> throttled; 500, 502, 504, connection resets, timeouts -> transient;
/// 404 -> not found; 412 -> precondition failed; 403 -> access denied; other 4xx -> permanent.
ErrorKind classify(long http_status, int curl_code, std::string_view s3_code);

/// Builds the Error for a failed exchange: `what` names the operation and object
/// ("GET s3://legacy-s3/image/a.png at http://127.0.0.1:7480"), `access_key_id` is named for
/// credential errors (never the secret). Adds advice on what to do ("check s3:GetObject on
/// legacy-s3", "check AWS_SECRET_ACCESS_KEY for access key TESTKEY").
Error make_error(std::string_view what, const http::Response& response,
                 std::string_view access_key_id);

}  // namespace rehome::s3
