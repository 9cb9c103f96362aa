// S3 failures: one table maps (HTTP status, curl code, S3 code) to what the caller can do, and
// one function turns a failed exchange into a message in the project's format:
//   <what>: <status> <S3Code> (<kind>; <advice>)
// Only the status, the S3 code, S3's message text and the request id reach a message: never a
// header value (Authorization, x-amz-security-token) or anything else from the request.
#include "s3/errors.h"

#include <curl/curl.h>

#include <algorithm>
#include <initializer_list>
#include <string>

#include "s3/xml_reader.h"

namespace rehome::s3 {

namespace {

// Server-sent text is cut to this and kept on one line.
constexpr std::size_t kMaxQuoted = 300;
// Retry-After beyond a day is nonsense; RetryPolicy clamps much lower anyway.
constexpr long kMaxRetryAfterSeconds = 86'400;

bool is_one_of(std::string_view code, std::initializer_list<std::string_view> codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// Curl failures a retry cannot cure: bad URL, TLS trust, our own callbacks giving up.
bool is_permanent_curl_code(int code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: return true;
    default: return false;
  }
}

std::string_view curl_advice(int code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT: return "connection refused: is the endpoint up?";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "the host name does not resolve: check the endpoint URL";
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "the proxy name does not resolve: check the proxy settings";
    case CURLE_OPERATION_TIMEDOUT:
      return "no answer in time: is the endpoint reachable and not overloaded?";
    case CURLE_GOT_NOTHING: return "the server closed the connection without answering";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: return "the connection broke: network or server fault";
    case CURLE_PARTIAL_FILE: return "the answer was cut short: network or server fault";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
      return "the endpoint's TLS certificate is not trusted: if a private CA signed it, give "
             "that CA's certificate with --ca-bundle FILE or AWS_CA_BUNDLE (or ca_bundle in the "
             "profile)";
    case CURLE_SSL_CACERT_BADFILE:
      return "the CA bundle could not be read: check the file --ca-bundle or AWS_CA_BUNDLE names";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
      return "TLS failed: check the endpoint's certificate and the CA bundle";
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return "check the endpoint URL";
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK: return "rehome stopped the transfer";
    case CURLE_READ_ERROR: return "the request body could not be read";
    default: return "network fault";
  }
}

// Error::code for transport failures: the curl name, so logs can be searched.
std::string curl_code_name(int code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY: return "CURLE_COULDNT_RESOLVE_PROXY";
    case CURLE_COULDNT_RESOLVE_HOST: return "CURLE_COULDNT_RESOLVE_HOST";
    case CURLE_COULDNT_CONNECT: return "CURLE_COULDNT_CONNECT";
    case CURLE_PARTIAL_FILE: return "CURLE_PARTIAL_FILE";
    case CURLE_WRITE_ERROR: return "CURLE_WRITE_ERROR";
    case CURLE_READ_ERROR: return "CURLE_READ_ERROR";
    case CURLE_OPERATION_TIMEDOUT: return "CURLE_OPERATION_TIMEDOUT";
    case CURLE_SSL_CONNECT_ERROR: return "CURLE_SSL_CONNECT_ERROR";
    case CURLE_ABORTED_BY_CALLBACK: return "CURLE_ABORTED_BY_CALLBACK";
    case CURLE_GOT_NOTHING: return "CURLE_GOT_NOTHING";
    case CURLE_SEND_ERROR: return "CURLE_SEND_ERROR";
    case CURLE_RECV_ERROR: return "CURLE_RECV_ERROR";
    case CURLE_PEER_FAILED_VERIFICATION: return "CURLE_PEER_FAILED_VERIFICATION";
    default: return "CURLE_" + std::to_string(code);
  }
}

const char* reason_phrase(long status) {
  switch (status) {
    case 301: return "Moved Permanently";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

// Server-sent text, cut short and kept on one line so a message stays one log line.
std::string quoted(std::string_view text) {
  std::size_t cut = std::min(text.size(), kMaxQuoted);
  // Never in the middle of a UTF-8 character: back off continuation bytes (10xxxxxx).
  while (cut < text.size() && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string out(text.substr(0, cut));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  if (cut < text.size()) out += "...";
  return out;
}

// "Retry-After: 5" -> 5000. HTTP-dates need a clock, which this pure code does not have:
// they (and anything else) count as absent, and the backoff policy applies.
std::optional<long> parse_retry_after(const std::string* value) {
  if (value == nullptr) return std::nullopt;
  std::string_view text(*value);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  long seconds = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = std::min(seconds * 10 + (c - '0'), kMaxRetryAfterSeconds);  // No overflow.
  }
  return seconds * 1000;
}

std::string with_key(std::string_view before, std::string_view key_id, std::string_view after) {
  std::string out(before);
  out += key_id.empty() ? "(unknown)" : std::string(key_id);
  out += after;
  return out;
}

// What to do about an HTTP failure, most specific first: the S3 code, then the status.
std::string http_advice(ErrorKind kind, long status, const S3ErrorBody& body,
                        std::string_view key_id) {
  const auto& code = body.code;
  if (code == "RequestTimeTooSkewed")
    return "this machine's clock is skewed from the server's: synchronise it with NTP";
  if (code == "SignatureDoesNotMatch")
    return with_key("the secret key for access key id ", key_id,
                    " is wrong: check AWS_SECRET_ACCESS_KEY or the profile");
  if (code == "InvalidAccessKeyId")
    return with_key("the server does not know access key id ", key_id,
                    ": check AWS_ACCESS_KEY_ID or the profile");
  if (is_one_of(code, {"ExpiredToken", "TokenRefreshRequired", "InvalidToken"}))
    return with_key("the session token for access key id ", key_id,
                    " is expired or invalid: refresh AWS_SESSION_TOKEN or the profile");
  // radosgw with STS enabled (rgw_s3_auth_use_sts) answers a wrong secret key with a bare
  // AccessDenied too: the key id is named so that a typo in the credentials shows.
  if (code == "AccessDenied")
    return with_key("check the IAM policy (docs/PRIVILEGES.md) of access key id ", key_id,
                    ", and its secret key");
  if (code == "AllAccessDisabled" || code == "AccountProblem")
    return "check the IAM policy (docs/PRIVILEGES.md)";
  if (code == "NoSuchBucket") return "bucket does not exist: check the bucket name and endpoint";
  if (code == "NoSuchKey") return "the object does not exist";
  if (code == "AuthorizationHeaderMalformed")
    return "the bucket lives in another region, and rehome could not learn which: set --region "
           "(or --legacy-region / --production-region) to the bucket's region; the server says \"" +
           quoted(body.message) + "\"";
  if (code == "PermanentRedirect" || code == "TemporaryRedirect" || status == 301 || status == 307)
    return "the bucket lives in another region or must be addressed at another endpoint, and the "
           "server did not say which: set --region (or --legacy-region / --production-region) to "
           "the bucket's region, or check the endpoint";
  if (code == "RequestTimeout") return "the server timed out reading the request: network stall";
  switch (kind) {
    case ErrorKind::kThrottled:
      return "the server asked to slow down: lower the request rate or concurrency";
    case ErrorKind::kTransient: return "a server-side fault: retrying later should work";
    case ErrorKind::kNotFound: return "no such key or bucket";
    case ErrorKind::kPreconditionFailed: return "the object changed or already exists";
    case ErrorKind::kAccessDenied:
      return with_key("check the credentials of access key id ", key_id,
                      " and the IAM policy (docs/PRIVILEGES.md)");
    default: break;
  }
  std::string advice = body.message.empty() ? std::string("the server refused the request")
                                            : "the server says \"" + quoted(body.message) + "\"";
  if (!body.request_id.empty()) advice += ", request id " + quoted(body.request_id);
  return advice;
}

}  // namespace

bool parse_error_body(std::string_view xml, S3ErrorBody& out) {
  S3ErrorBody body;
  bool is_error = false;
  XmlEvents events;
  events.on_open = [&](const XmlPath& path) {
    if (path.size() == 1) is_error = path[0] == "Error";
  };
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path_is(path, {"Error", "Code"}))
      body.code = text;
    else if (path_is(path, {"Error", "Message"}))
      body.message = text;
    else if (path_is(path, {"Error", "RequestId"}))
      body.request_id = text;
  };
  if (!read_xml(xml, events).empty() || !is_error) return false;
  out = std::move(body);
  return true;
}

ErrorKind classify(long http_status, int curl_code, std::string_view s3_code) {
  if (curl_code != 0) {
    return is_permanent_curl_code(curl_code) ? ErrorKind::kPermanent : ErrorKind::kTransient;
  }
  // The S3 code is the most precise signal and wins over the status.
  if (s3_code == "RequestTimeTooSkewed") return ErrorKind::kPermanent;  // A clock to fix.
  if (is_one_of(s3_code, {"SlowDown", "ServiceUnavailable", "Throttling", "ThrottlingException",
                          "RequestLimitExceeded", "TooManyRequests", "RequestThrottled"}))
    return ErrorKind::kThrottled;
  // ConditionalRequestConflict: a concurrent conditional write (If-None-Match on PUT or
  // CopyObject) raced ours; AWS says to retry.
  if (is_one_of(s3_code, {"InternalError", "RequestTimeout", "OperationAborted",
                          "ConditionalRequestConflict"}))
    return ErrorKind::kTransient;
  if (is_one_of(s3_code, {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchVersion"}))
    return ErrorKind::kNotFound;
  if (s3_code == "PreconditionFailed") return ErrorKind::kPreconditionFailed;
  if (is_one_of(s3_code,
                {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken",
                 "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem"}))
    return ErrorKind::kAccessDenied;

  if (http_status == 429 || http_status == 503) return ErrorKind::kThrottled;
  if (http_status >= 500 && http_status <= 599) return ErrorKind::kTransient;
  if (http_status == 408) return ErrorKind::kTransient;
  if (http_status == 404) return ErrorKind::kNotFound;
  if (http_status == 412) return ErrorKind::kPreconditionFailed;
  if (http_status == 401 || http_status == 403) return ErrorKind::kAccessDenied;
  return ErrorKind::kPermanent;
}

Error make_error(std::string_view what, const http::Response& response,
                 std::string_view access_key_id) {
  Error error;
  if (response.status != 0) error.http_status = response.status;
  error.retry_after_ms = parse_retry_after(response.header("retry-after"));

  std::string summary;
  std::string advice;
  if (response.curl_code != 0) {
    error.kind = classify(response.status, response.curl_code, {});
    error.code = curl_code_name(response.curl_code);
    summary = quoted(response.transport_error.empty()
                         ? curl_easy_strerror(static_cast<CURLcode>(response.curl_code))
                         : response.transport_error);
    advice = curl_advice(response.curl_code);
  } else {
    S3ErrorBody body;
    if (!response.body.empty()) parse_error_body(response.body, body);
    error.kind = classify(response.status, 0, body.code);
    error.code = body.code;
    summary = std::to_string(response.status);
    std::string_view label = body.code;
    if (label.empty()) label = reason_phrase(response.status);
    if (!label.empty()) summary.append(" ").append(quoted(label));
    advice = http_advice(error.kind, response.status, body, access_key_id);
  }

  if (!what.empty()) error.message = std::string(what) + ": ";
  error.message += summary + " (" + to_string(error.kind) + "; " + advice + ")";
  return error;
}

}  // namespace rehome::s3
