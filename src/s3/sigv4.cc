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
#include "util/uri.h"

namespace rehome::s3 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

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
CanonicalHeaders canonical_headers(const SigningRequest& request) {
  http::Headers headers;
  headers.reserve(request.headers.size() + 1);
  if (!request.host.empty()) headers.emplace_back("host", request.host);
  for (const auto& [name, value] : request.headers) {
    std::string lowered = lower(name);
    if (lowered == "host" && !request.host.empty()) {
      throw std::invalid_argument("SigningRequest: Host given both in `host` and in `headers`");
    }
    headers.emplace_back(std::move(lowered), trim_all(value));
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const http::Header& a, const http::Header& b) { return a.first < b.first; });

  CanonicalHeaders out;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const std::string& name = headers[i].first;
    bool continues = i > 0 && headers[i - 1].first == name;
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
    out.block += headers[i].second;
  }
  if (!headers.empty()) out.block.push_back('\n');
  return out;
}

std::string credential_scope(std::string_view day, const SigningRequest& request) {
  std::string scope(day);
  scope += '/';
  scope += request.region;
  scope += '/';
  scope += request.service;
  scope += "/aws4_request";
  return scope;
}

std::string signing_key(std::string_view secret, std::string_view day,
                        const SigningRequest& request) {
  std::string key = hmac_sha256("AWS4" + std::string(secret), day);
  key = hmac_sha256(key, request.region);
  key = hmac_sha256(key, request.service);
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

/// compute_signature() plus the signed-header list and scope that the Authorization needs.
struct Signature {
  SigningParts parts;
  std::string signed_names;
  std::string scope;
};

Signature sign(const SigningRequest& request, const Credentials& credentials,
               std::chrono::system_clock::time_point time) {
  if (request.payload_sha256.empty()) {
    throw std::invalid_argument("SigningRequest: payload_sha256 is empty");
  }
  CanonicalHeaders headers = canonical_headers(request);

  Signature out;
  SigningParts& parts = out.parts;
  parts.canonical_request = request.method + '\n' + request.path + '\n' +
                            canonical_query(request.query) + '\n' + headers.block + '\n' +
                            headers.signed_names + '\n' + request.payload_sha256;

  std::string day = amz_day(time);
  out.scope = credential_scope(day, request);
  parts.string_to_sign = std::string(kAlgorithm) + '\n' + amz_date(time) + '\n' + out.scope + '\n' +
                         to_hex(sha256(parts.canonical_request));

  parts.signature = to_hex(
      hmac_sha256(signing_key(credentials.secret_access_key, day, request), parts.string_to_sign));
  out.signed_names = std::move(headers.signed_names);
  return out;
}

bool is_reserved(std::string_view name) {
  std::string lowered = lower(name);
  return lowered == "host" || lowered == "x-amz-date" || lowered == "x-amz-content-sha256" ||
         lowered == "x-amz-security-token" || lowered == "authorization";
}

}  // namespace

SigningParts compute_signature(const SigningRequest& request, const Credentials& credentials,
                               std::chrono::system_clock::time_point time) {
  return sign(request, credentials, time).parts;
}

http::Headers sign_request(const SigningRequest& request, const Credentials& credentials,
                           std::chrono::system_clock::time_point time) {
  if (request.host.empty()) throw std::invalid_argument("sign_request: host is empty");
  for (const auto& header : request.headers) {
    if (is_reserved(header.first)) {
      throw std::invalid_argument("sign_request adds " + header.first + " itself");
    }
  }
  SigningRequest signed_request = request;
  http::Headers& headers = signed_request.headers;
  headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  headers.emplace_back("x-amz-date", amz_date(time));
  if (!credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  Signature signature = sign(signed_request, credentials, time);

  std::string authorization(kAlgorithm);
  authorization += " Credential=" + credentials.access_key_id + '/' + signature.scope;
  authorization += ", SignedHeaders=" + signature.signed_names;
  authorization += ", Signature=" + signature.parts.signature;

  headers.emplace_back("Host", request.host);
  headers.emplace_back("Authorization", std::move(authorization));
  return std::move(headers);
}

std::string amz_date(std::chrono::system_clock::time_point time) {
  return format_utc(time, "%Y%m%dT%H%M%SZ");
}

std::string amz_day(std::chrono::system_clock::time_point time) {
  return format_utc(time, "%Y%m%d");
}

}  // namespace rehome::s3
