// Where a request for a bucket and key goes: path-style or virtual-hosted URLs, and the
// encoded path and host that SigV4 signs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct RequestTarget {
  std::string url;   ///< Full URL with encoded path and sorted, encoded query.
  std::string host;  ///< Host header value ("127.0.0.1:7480", "bucket.s3.amazonaws.com").
  std::string path;  ///< Encoded absolute path as signed ("/bucket/image/a%20b.png").
};

/// Checks an endpoint URL ("http(s)://host[:port]" with no path), so a typo fails at start-up.
Status validate_endpoint(const Endpoint& endpoint);

/// The host of an endpoint URL, lower-cased ("[::1]" with brackets); nullopt when it does not
/// parse.
std::optional<std::string> endpoint_host(std::string_view url);

/// True for AWS's own S3 endpoints (a host under amazonaws.com or amazonaws.com.cn): the
/// default when no endpoint is given, and any regional one given explicitly.
bool is_aws_endpoint(std::string_view url);

/// AWS's public S3 host for `region` (s3.<region>.amazonaws.com[.cn], same scheme) when `url` is
/// one of AWS's public S3 hosts (s3.amazonaws.com, s3.<region>.amazonaws.com[.cn]); nullopt for
/// any other (FIPS, dual-stack, VPC endpoints and other stores keep their host).
std::optional<std::string> aws_regional_url(std::string_view url, std::string_view region);

/// Builds the target for `bucket`/`key` (key may be empty for bucket-level requests) with
/// decoded `query` parameters. Keys are encoded byte by byte, '/' kept.
RequestTarget make_target(const Endpoint& endpoint, std::string_view bucket, std::string_view key,
                          const QueryParams& query = {});

/// "s3://bucket/key" for messages.
std::string s3_uri(std::string_view bucket, std::string_view key);

}  // namespace rehome::s3
