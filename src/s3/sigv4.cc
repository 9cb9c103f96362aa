// SigV4 for S3, step by step as AWS documents it: canonical request -> string to sign ->
// signing key chain -> signature. Two S3-specific choices: the path is signed exactly as it is
// sent (S3 neither normalises "." / ".." / "//" nor encodes the path a second time), and
// sign_request always sends and signs x-amz-content-sha256, which S3 requires.
#include "s3/sigv4.h"

#include <algorithm>
#include <ctime>
#include <stdexcept>
#include <string>
#include <utility>

#include "util/crypto.h"
#include "util/text.h"
#include "util/uri.h"

namespace rehome::s3 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool is_blank(char c) { return c == ' ' || c == '\t'; }

/// SigV4's "trimall": strip leading/trailing blanks and fold inner runs into one space. Tabs
/// count as blanks, as in botocore (`' '.join(value.split())`), which S3 accepts.
std::string trim_all(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (is_blank(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

struct CanonicalHeaders {
  std::string block;         ///< "name:value\n" per distinct name.
  std::string signed_names;  ///< "host;x-amz-date"
};

/// Lower-cased names in byte order; repeated names keep their order and join with ','.
/// Signs `host` (when non-empty) and `headers`.
CanonicalHeaders canonical_headers(std::string_view host, const http::Headers& headers) {
  http::Headers sorted;
  sorted.reserve(headers.size() + 1);
  if (!host.empty()) sorted.emplace_back("host", host);
  for (const auto& [name, value] : headers) {
    std::string lowered = ascii_lower(name);
    if (lowered == "host" && !host.empty()) {
      throw std::invalid_argument("SigningRequest: Host given both in `host` and in `headers`");
    }
    sorted.emplace_back(std::move(lowered), trim_all(value));
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const http::Header& a, const http::Header& b) { return a.first < b.first; });

  CanonicalHeaders out;
  out.block.reserve(256);
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const std::string& name = sorted[i].first;
    bool continues = i > 0 && sorted[i - 1].first == name;
    if (continues) {
      out.block.push_back(',');
    } else {
      if (i > 0) {
        out.block.push_back('\n');
        out.signed_names.push_back(';');
      }
      out.block += name;
      out.block.push_back(':');
      out.signed_names += name;
    }
    out.block += sorted[i].second;
  }
  if (!sorted.empty()) out.block.push_back('\n');
  return out;
}

std::string credential_scope(std::string_view day, const SigningRequest& request) {
  std::string scope;
  scope.reserve(day.size() + request.region.size() + request.service.size() + 16);
  scope += day;
  scope += '/';
  scope += request.region;
  scope += '/';
  scope += request.service;
  scope += "/aws4_request";
  return scope;
}

std::string derive_signing_key(std::string_view secret, std::string_view day,
                               std::string_view region, std::string_view service) {
  std::string key = hmac_sha256("AWS4" + std::string(secret), day);
  key = hmac_sha256(key, region);
  key = hmac_sha256(key, service);
  return hmac_sha256(key, "aws4_request");
}

std::string format_utc(std::chrono::system_clock::time_point time, const char* format) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm parts{};
  if (gmtime_r(&seconds, &parts) == nullptr) {
    throw std::invalid_argument("time point outside the calendar range");
  }
  char out[32];
  std::size_t length = std::strftime(out, sizeof out, format, &parts);
  return std::string(out, length);
}

std::string canonical_request(const SigningRequest& request, const CanonicalHeaders& headers) {
  std::string query = canonical_query(request.query);
  std::string out;
  out.reserve(request.method.size() + request.path.size() + query.size() + headers.block.size() +
              headers.signed_names.size() + request.payload_sha256.size() + 8);
  out += request.method;
  out += '\n';
  out += request.path;
  out += '\n';
  out += query;
  out += '\n';
  out += headers.block;
  out += '\n';
  out += headers.signed_names;
  out += '\n';
  out += request.payload_sha256;
  return out;
}

std::string string_to_sign(std::string_view date, std::string_view scope,
                           std::string_view canonical) {
  std::string out;
  out.reserve(kAlgorithm.size() + date.size() + scope.size() + 64 + 3);
  out += kAlgorithm;
  out += '\n';
  out += date;
  out += '\n';
  out += scope;
  out += '\n';
  out += to_hex(sha256(canonical));
  return out;
}

/// compute_signature() plus the signed-header list and scope that the Authorization needs.
struct Signature {
  SigningParts parts;
  std::string signed_names;
  std::string scope;
};

/// Signs `request` with `headers` in place of request.headers (sign_request adds its own);
/// `date` is amz_date() of the request time.
Signature sign(const SigningRequest& request, const http::Headers& headers,
               const Credentials& credentials, std::string_view date, SigningKeyCache* keys) {
  if (request.payload_sha256.empty()) {
    throw std::invalid_argument("SigningRequest: payload_sha256 is empty");
  }
  CanonicalHeaders canonical = canonical_headers(request.host, headers);

  Signature out;
  SigningParts& parts = out.parts;
  parts.canonical_request = canonical_request(request, canonical);
  const std::string_view day = date.substr(0, date.find('T'));  // amz_day() of the same time
  out.scope = credential_scope(day, request);
  parts.string_to_sign = string_to_sign(date, out.scope, parts.canonical_request);

  const std::string_view secret = credentials.secret_access_key;
  std::string derived;
  const std::string& key =
      keys != nullptr
          ? keys->key(secret, day, request.region, request.service)
          : (derived = derive_signing_key(secret, day, request.region, request.service));
  parts.signature = to_hex(hmac_sha256(key, parts.string_to_sign));
  out.signed_names = std::move(canonical.signed_names);
  return out;
}

bool is_reserved(std::string_view name) {
  std::string lowered = ascii_lower(name);
  return lowered == "host" || lowered == "x-amz-date" || lowered == "x-amz-content-sha256" ||
         lowered == "x-amz-security-token" || lowered == "authorization";
}

}  // namespace

const std::string& SigningKeyCache::key(std::string_view secret, std::string_view day,
                                        std::string_view region, std::string_view service) {
  if (key_.empty() || secret != secret_ || day != day_ || region != region_ ||
      service != service_) {
    key_ = derive_signing_key(secret, day, region, service);
    secret_ = secret;
    day_ = day;
    region_ = region;
    service_ = service;
  }
  return key_;
}

SigningParts compute_signature(const SigningRequest& request, const Credentials& credentials,
                               std::chrono::system_clock::time_point time, SigningKeyCache* keys) {
  return sign(request, request.headers, credentials, amz_date(time), keys).parts;
}

http::Headers sign_request(const SigningRequest& request, const Credentials& credentials,
                           std::chrono::system_clock::time_point time, SigningKeyCache* keys) {
  if (request.host.empty()) throw std::invalid_argument("sign_request: host is empty");
  for (const auto& header : request.headers) {
    if (is_reserved(header.first)) {
      throw std::invalid_argument("sign_request adds " + header.first + " itself");
    }
  }
  http::Headers headers;
  headers.reserve(request.headers.size() + 5);
  headers = request.headers;
  std::string date = amz_date(time);
  headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  headers.emplace_back("x-amz-date", date);
  if (!credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  Signature signature = sign(request, headers, credentials, date, keys);

  std::string authorization;
  authorization.reserve(kAlgorithm.size() + credentials.access_key_id.size() +
                        signature.scope.size() + signature.signed_names.size() + 96);
  authorization += kAlgorithm;
  authorization += " Credential=";
  authorization += credentials.access_key_id;
  authorization += '/';
  authorization += signature.scope;
  authorization += ", SignedHeaders=";
  authorization += signature.signed_names;
  authorization += ", Signature=";
  authorization += signature.parts.signature;

  headers.emplace_back("Host", request.host);
  headers.emplace_back("Authorization", std::move(authorization));
  return headers;
}

std::string amz_date(std::chrono::system_clock::time_point time) {
  return format_utc(time, "%Y%m%dT%H%M%SZ");
}

std::string amz_day(std::chrono::system_clock::time_point time) {
  return format_utc(time, "%Y%m%d");
}

}  // namespace rehome::s3
