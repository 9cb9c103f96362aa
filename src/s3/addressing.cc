// Request targets. The URL's path and query are built exactly as SigV4 canonicalises them
// (keys encoded byte by byte with '/' kept, query sorted and encoded), so what is signed is
// what is sent. The HTTP layer must not normalise the path ("a/../b" is a legal key): see
// CURLOPT_PATH_AS_IS.
#include "s3/addressing.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include "util/uri.h"

namespace rehome::s3 {

namespace {

struct EndpointParts {
  std::string scheme;  // "http" or "https"
  std::string host;    // "127.0.0.1", "s3.amazonaws.com", "[::1]"
  std::string port;    // Empty when absent.
};

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_host_char(char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_'; }

bool is_ipv6_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// The URL as it may appear in a message: user:password@ (never valid here) is not echoed.
std::string shown(std::string_view url) {
  auto at = url.find('@');
  if (at == std::string_view::npos) return std::string(url);
  auto scheme_end = url.find("://");
  auto start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  return std::string(url.substr(0, start)) + "***" + std::string(url.substr(at));
}

Error invalid(std::string_view what, std::string_view why) {
  Error error;
  error.kind = ErrorKind::kInvalidInput;
  error.message = std::string(what) + ": " + std::string(why);
  return error;
}

Result<EndpointParts> parse_endpoint_url(std::string_view url) {
  const std::string what = "endpoint URL \"" + shown(url) + "\"";
  EndpointParts parts;
  if (starts_with_nocase(url, "https://")) {
    parts.scheme = "https";
  } else if (starts_with_nocase(url, "http://")) {
    parts.scheme = "http";
  } else {
    return invalid(what, "must start with http:// or https://");
  }
  std::string_view rest = url.substr(parts.scheme.size() + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);  // "http://host:7480/" is a common spelling.
  if (rest.find('@') != std::string_view::npos)
    return invalid(what, "must not contain user information: pass credentials separately");
  if (rest.find_first_of("/?#") != std::string_view::npos)
    return invalid(what, "must be scheme://host[:port] with no path, query or fragment");

  std::string_view port;
  bool has_port = false;
  if (rest.starts_with('[')) {  // IPv6 literal: "[::1]:7480"
    auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1 ||
        !std::all_of(rest.begin() + 1, rest.begin() + static_cast<long>(close), is_ipv6_char))
      return invalid(what, "has a malformed IPv6 address");
    parts.host = std::string(rest.substr(0, close + 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return invalid(what, "has a malformed port");
    has_port = !rest.empty();
    if (has_port) port = rest.substr(1);
  } else {
    auto colon = rest.find(':');
    parts.host = std::string(rest.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port = rest.substr(colon + 1);
    if (parts.host.empty()) return invalid(what, "has no host");
    if (!std::all_of(parts.host.begin(), parts.host.end(), is_host_char))
      return invalid(what, "has a host with characters a host name cannot have");
  }
  if (has_port) {
    int number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number < 1 ||
        number > 65535)
      return invalid(what, "has a port that is not a number from 1 to 65535");
    parts.port = std::string(port);
  }
  return parts;
}

bool is_ip_literal(const std::string& host) {
  return host.starts_with('[') || std::all_of(host.begin(), host.end(), [](char c) {
           return (c >= '0' && c <= '9') || c == '.';
         });
}

std::string host_with_port(const EndpointParts& parts) {
  bool default_port = (parts.scheme == "http" && parts.port == "80") ||
                      (parts.scheme == "https" && parts.port == "443");
  if (parts.port.empty() || default_port) return parts.host;
  return parts.host + ":" + parts.port;
}

}  // namespace

namespace {

// The host of an endpoint URL (no scheme, port or path).
std::string_view url_host(std::string_view url) {
  auto scheme = url.find("://");
  std::string_view host = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  return host.substr(0, host.find_first_of(":/"));
}

}  // namespace

bool is_aws_endpoint(std::string_view url) {
  const std::string_view host = url_host(url);
  return host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
}

std::optional<std::string> aws_regional_url(std::string_view url, std::string_view region) {
  const std::string_view host = url_host(url);
  const bool china = host.ends_with(".amazonaws.com.cn");
  const std::string_view domain = china ? ".amazonaws.com.cn" : ".amazonaws.com";
  const bool public_s3 =
      host == "s3.amazonaws.com" || (host.starts_with("s3.") && host.ends_with(domain) &&
                                     host.find('.', 3) == host.size() - domain.size());
  if (!public_s3) return std::nullopt;
  const auto scheme = url.find("://");
  const std::string_view prefix = scheme == std::string_view::npos ? "" : url.substr(0, scheme + 3);
  return std::string(prefix) + "s3." + std::string(region) + std::string(domain);
}

std::optional<std::string> endpoint_host(std::string_view url) {
  auto parts = parse_endpoint_url(url);
  if (!parts) return std::nullopt;
  std::string host = parts->host;
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

Status validate_endpoint(const Endpoint& endpoint) {
  auto parts = parse_endpoint_url(endpoint.url);
  if (!parts) return parts.error();
  if (endpoint.region.empty())
    return invalid("region", "is empty: set AWS_REGION or the profile's region");
  if (!std::all_of(endpoint.region.begin(), endpoint.region.end(),
                   [](char c) { return is_alnum(c) || c == '-' || c == '_'; }))
    return invalid("region \"" + endpoint.region + "\"",
                   "may only hold letters, digits, '-' and '_'");
  if (!endpoint.path_style && is_ip_literal(parts->host))
    return invalid("endpoint URL \"" + endpoint.url + "\"",
                   "is an IP address: virtual-hosted addressing needs a DNS name; use path style");
  return Ok{};
}

RequestTarget make_target(const Endpoint& endpoint, std::string_view bucket, std::string_view key,
                          const QueryParams& query) {
  auto parts = parse_endpoint_url(endpoint.url);
  if (!parts) throw std::invalid_argument(parts.error().message + " (validate_endpoint first)");

  RequestTarget target;
  const std::string host = host_with_port(parts.value());
  if (endpoint.path_style || bucket.empty()) {
    target.host = host;
    target.path.append("/").append(uri_encode(bucket));
    if (!key.empty()) target.path.append("/").append(uri_encode(key, /*keep_slash=*/true));
  } else {
    target.host.append(bucket).append(".").append(host);
    target.path.append("/").append(uri_encode(key, /*keep_slash=*/true));
  }
  // append() rather than "literal" + std::string: GCC 12 at -O3 reports a false -Wrestrict
  // overlap for the latter (GCC bug 105329), which would break a Release -Werror build.
  target.url.append(parts->scheme).append("://").append(target.host).append(target.path);
  if (!query.empty()) target.url.append("?").append(canonical_query(query));
  return target;
}

std::string s3_uri(std::string_view bucket, std::string_view key) {
  std::string out = "s3://";
  out += bucket;
  out += '/';
  // Control characters would break a message's line: shown as %XX, everything else as is.
  for (char ch : key) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      out += uri_encode(std::string_view(&ch, 1));
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace rehome::s3
