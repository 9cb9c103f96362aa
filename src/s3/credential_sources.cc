// One fetch from each credential source, by the protocols AWS documents:
// - STS (AssumeRoleWithWebIdentity unsigned, AssumeRole signed with SigV4 for service "sts"):
//   a form-encoded POST, answered with XML;
// - the container endpoint: a GET with an optional Authorization header, answered with JSON;
// - IMDSv2: PUT /latest/api/token with a TTL, then GETs carrying that token, answered with JSON.
// A fault a retry may cure (no answer, 5xx, 429, STS throttling) is tried three times, a second
// apart, before the fetch fails; RefreshingCredentials then retries the whole fetch with backoff.
#include "s3/credential_sources.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/blocking.h"
#include "s3/addressing.h"
#include "s3/sigv4.h"
#include "s3/xml_reader.h"
#include "util/crypto.h"
#include "util/uri.h"

namespace rehome::s3 {

namespace {

using Clock = std::chrono::system_clock;
using Kind = CredentialSource::Kind;

constexpr int kAttempts = 3;
// The instance metadata service answers in milliseconds where it exists; where it does not (a
// laptop), a short wait makes the chain's last resort fail fast.
constexpr auto kMetadataTimeout = std::chrono::milliseconds(1000);
constexpr const char* kMetadataTokenTtl = "21600";  // 6 hours, the SDKs' value
constexpr const char* kStsVersion = "2011-06-15";

bool retryable_status(long status) { return status == 429 || status >= 500; }

// The host of "scheme://[userinfo@]host[:port]/...", lower-cased; "[v6]" keeps its brackets.
std::string host_of(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  std::string host;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    // Only ":port" may follow the brackets ("[::1].example" is no address).
    if (close == std::string_view::npos || (close + 1 < rest.size() && rest[close + 1] != ':'))
      return {};
    host = std::string(rest.substr(0, close + 1));
  } else {
    host = std::string(rest.substr(0, rest.find(':')));
  }
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

// TLS for a credential endpoint: the bucket's settings only on the bucket's own host.
void set_tls(http::Request& request, const FetchOptions& options) {
  if (!options.bucket_host.empty() && host_of(request.url) == options.bucket_host) {
    request.ca_bundle = options.ca_bundle;
    request.verify_tls = options.verify_tls;
  } else {
    request.ca_bundle = options.other_ca_bundle;
    request.verify_tls = true;
  }
}

// What to do about a credential endpoint's refusal, by the service's code.
std::string advice_for(std::string_view code, long status) {
  if (code == "AccessDenied")
    return "check the role's trust policy and the caller's sts:AssumeRole (docs/PRIVILEGES.md)";
  if (code == "InvalidIdentityToken")
    return "check the cluster's OIDC provider in IAM and the token's audience (sts.amazonaws.com)";
  if (code == "ExpiredTokenException" || code == "ExpiredToken")
    return "the web identity token expired: check that its file is being rotated";
  if (code == "InvalidClientTokenId")
    return "STS does not know these credentials: check the source's keys, and that the STS "
           "endpoint is in their partition (set AWS_REGION or AWS_ENDPOINT_URL_STS)";
  if (code == "RegionDisabledException")
    return "STS is not activated in this region: activate it in IAM, or set AWS_REGION";
  if (status == 401) return "the endpoint refused the authorization token: check its source";
  return {};
}

// "GET http://169.254.170.23/v1/credentials: HTTP 403 (message; advice)" or the transport
// error. `shown_url` replaces a URL that must not be shown (an ECS relative URI).
Error http_failure(const http::Request& request, const http::Response& response,
                   const std::string& detail, const std::string& shown_url = {}) {
  const std::string what = request.method + " " + (shown_url.empty() ? request.url : shown_url);
  if (!response.transport_error.empty()) {
    return Error::transient(fmt::format("{}: no answer ({})", what, response.transport_error));
  }
  Error e = retryable_status(response.status) ? Error::transient("") : Error::permanent("");
  e.http_status = response.status;
  e.message = fmt::format("{}: HTTP {}{}", what, response.status,
                          detail.empty() ? "" : " (" + detail + ")");
  return e;
}

// Calls `attempt` until it succeeds, fails for good, or has been tried `attempts` times.
template <typename F>
auto with_attempts(int attempts, std::chrono::milliseconds pause, F attempt)
    -> decltype(attempt()) {
  for (int i = 1;; ++i) {
    auto got = attempt();
    if (got || got.error().kind != ErrorKind::kTransient || i >= attempts) return got;
    std::this_thread::sleep_for(pause);
  }
}

Result<std::string> read_text_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return Error::invalid_input(
        fmt::format("cannot read the {} {}: check that it exists and is readable", what, path));
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  if (text.empty()) return Error::invalid_input(fmt::format("the {} {} is empty", what, path));
  return text;
}

std::string form_body(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body += '&';
    body += uri_encode(name);
    body += '=';
    body += uri_encode(value);
  }
  return body;
}

// The STS error document's code and message ("AccessDenied: User ... is not authorized").
std::string sts_error_detail(std::string_view xml, std::string* code) {
  std::string message;
  read_xml(xml, {nullptr, [&](const XmlPath& path, std::string_view text) {
                   if (path.size() < 2 || path[path.size() - 2] != "Error") return;
                   if (path.back() == "Code") *code = std::string(text);
                   if (path.back() == "Message") message = std::string(text);
                 }});
  if (code->empty()) return message;
  return message.empty() ? *code : *code + ": " + message;
}

struct Sts {
  const FetchOptions& options;
  const std::function<http::Response(http::Request)>& perform;

  // POSTs an STS action; `credentials` sign it (AssumeRole) or nothing does (web identity).
  Result<TimedCredentials> call(const StsEndpoint& sts,
                                const std::vector<std::pair<std::string, std::string>>& fields,
                                const Credentials* credentials) const {
    Endpoint endpoint;
    endpoint.url = sts.url;
    endpoint.region = sts.region;
    const RequestTarget target = make_target(endpoint, "", "");
    http::Request request;
    request.method = "POST";
    request.url = target.url;
    request.body = form_body(fields);
    set_tls(request, options);
    request.timeout = std::chrono::seconds(30);
    const std::string content_type = "application/x-www-form-urlencoded; charset=utf-8";
    if (credentials != nullptr) {
      SigningRequest signing;
      signing.method = "POST";
      signing.host = target.host;
      signing.path = target.path;
      signing.headers = {{"content-type", content_type}};
      signing.payload_sha256 = to_hex(sha256(request.body));
      signing.region = sts.region;
      signing.service = "sts";
      request.headers = sign_request(signing, *credentials, Clock::now());
    } else {
      request.headers = {{"Content-Type", content_type}};
    }
    return with_attempts(kAttempts, options.retry_pause, [&]() -> Result<TimedCredentials> {
      http::Response response = perform(request);
      if (response.transport_error.empty() && response.status == 200)
        return parse_sts_credentials(response.body);
      std::string code;
      const std::string detail = sts_error_detail(response.body, &code);
      const std::string advice = advice_for(code, response.status);
      Error e = http_failure(request, response, advice.empty() ? detail : detail + "; " + advice);
      e.code = code;
      // STS answers throttling and a briefly unreachable identity provider with a 400.
      if (code == "Throttling" || code == "IDPCommunicationError") e.kind = ErrorKind::kTransient;
      return e;
    });
  }
};

Result<TimedCredentials> fetch_web_identity(const CredentialSource& source, const Sts& sts) {
  auto token = read_text_file(source.token_file, "web identity token file");
  if (!token) return token.error();
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Action", "AssumeRoleWithWebIdentity"},
      {"RoleArn", source.role_arn},
      {"RoleSessionName", source.role_session_name},
      {"Version", kStsVersion},
      {"WebIdentityToken", token.value()}};
  if (source.duration_seconds > 0)
    fields.emplace_back("DurationSeconds", std::to_string(source.duration_seconds));
  return sts.call(source.sts, fields, nullptr);
}

Result<TimedCredentials> fetch_assumed_role(const CredentialSource& source, const Sts& sts) {
  if (!source.source)
    return Error::invalid_input("assumed role " + source.role_arn + ": no source");
  // The source's own credentials are fetched again each time: they may be temporary too.
  auto signer = fetch_credentials(*source.source, sts.options);
  if (!signer) return signer.error().context("the credentials of " + source.source->description);
  std::vector<std::pair<std::string, std::string>> fields = {
      {"Action", "AssumeRole"},
      {"RoleArn", source.role_arn},
      {"RoleSessionName", source.role_session_name},
      {"Version", kStsVersion}};
  if (!source.external_id.empty()) fields.emplace_back("ExternalId", source.external_id);
  if (source.duration_seconds > 0)
    fields.emplace_back("DurationSeconds", std::to_string(source.duration_seconds));
  return sts.call(source.sts, fields, &signer->credentials);
}

Result<TimedCredentials> fetch_container(const CredentialSource& source, const Sts& sts) {
  http::Request request;
  request.url = source.url;
  request.timeout = std::chrono::seconds(5);
  request.connect_timeout = std::chrono::seconds(2);
  request.no_proxy = true;
  set_tls(request, sts.options);
  std::string authorization = source.authorization;
  const char* authorization_from = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
  if (!source.authorization_file.empty()) {
    auto token = read_text_file(source.authorization_file, "container authorization token file");
    if (!token) return token.error();
    authorization = token.value();
    authorization_from = "the file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names";
  }
  // A line break would end the header and start another: refused, as the SDKs do.
  if (authorization.find_first_of("\r\n") != std::string::npos) {
    return Error::invalid_input(fmt::format(
        "the container authorization token in {} holds a line break: it cannot be a header "
        "value; check what writes it",
        authorization_from));
  }
  if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
  return with_attempts(kAttempts, sts.options.retry_pause, [&]() -> Result<TimedCredentials> {
    http::Response response = sts.perform(request);
    if (response.transport_error.empty() && response.status == 200)
      return parse_json_credentials(response.body, "the container credentials endpoint");
    // The agents answer errors as {"code": ..., "message": ...}; show the message.
    std::string detail;
    const auto doc = nlohmann::json::parse(response.body, nullptr, false);
    if (doc.is_object() && doc.contains("message") && doc["message"].is_string())
      detail = doc["message"].get<std::string>();
    if (const std::string advice = advice_for("", response.status); !advice.empty())
      detail = detail.empty() ? advice : detail + "; " + advice;
    return http_failure(request, response, detail, source.shown_url);
  });
}

Result<TimedCredentials> fetch_instance_metadata(const CredentialSource& source, const Sts& sts) {
  auto metadata_request = [&](std::string method, const std::string& path) {
    http::Request request;
    request.method = std::move(method);
    request.url = source.metadata_endpoint + path;
    request.timeout = kMetadataTimeout * 2;
    request.connect_timeout = kMetadataTimeout;
    request.no_proxy = true;
    return request;
  };
  // The chain's last resort: a machine without the service gets one quick try, not three.
  const bool last_resort = !source.tried_before.empty() && sts.options.first_fetch;
  const int attempts = last_resort ? 1 : kAttempts;
  auto fetched =
      with_attempts(attempts, sts.options.retry_pause, [&]() -> Result<TimedCredentials> {
        http::Request token_request = metadata_request("PUT", "/latest/api/token");
        token_request.headers = {{"x-aws-ec2-metadata-token-ttl-seconds", kMetadataTokenTtl}};
        http::Response token = sts.perform(token_request);
        if (!token.transport_error.empty() || token.status != 200) {
          // No answer in a container usually means the token's answer could not travel the
          // extra hop; a 403, that the instance metadata is turned off.
          return http_failure(
              token_request, token,
              token.status == 403
                  ? "the IMDSv2 session token; the instance metadata service is turned off"
                  : "the IMDSv2 session token; in a container, the instance's metadata hop "
                    "limit must be 2");
        }
        const http::Header with_token{"x-aws-ec2-metadata-token", token.body};

        http::Request roles_request =
            metadata_request("GET", "/latest/meta-data/iam/security-credentials/");
        roles_request.headers = {with_token};
        http::Response roles = sts.perform(roles_request);
        if (roles.status == 404) {
          return Error::invalid_input(
              fmt::format("the EC2 instance metadata service at {} names no IAM role: attach an "
                          "instance profile to this instance",
                          source.metadata_endpoint));
        }
        if (!roles.transport_error.empty() || roles.status != 200)
          return http_failure(roles_request, roles, "");
        std::string role = roles.body.substr(0, roles.body.find('\n'));
        while (!role.empty() && (role.back() == '\r' || role.back() == ' ')) role.pop_back();
        if (role.empty()) return http_failure(roles_request, roles, "an empty role name");

        http::Request role_request = metadata_request(
            "GET", "/latest/meta-data/iam/security-credentials/" + uri_encode(role));
        role_request.headers = {with_token};
        http::Response credentials = sts.perform(role_request);
        if (!credentials.transport_error.empty() || credentials.status != 200)
          return http_failure(role_request, credentials, "");
        return parse_json_credentials(credentials.body, "the EC2 instance metadata service");
      });
  if (!fetched && last_resort) {
    Error e = fetched.error();
    e.message = fmt::format(
        "no AWS credentials: {}, and the EC2 instance metadata service did not give any ({}); "
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile with --profile or "
        "AWS_PROFILE, or set AWS_EC2_METADATA_DISABLED=true to skip the instance metadata",
        source.tried_before, e.message);
    return e;
  }
  return fetched;
}

}  // namespace

std::string kind_name(Kind kind) {
  switch (kind) {
    case Kind::kStatic: return "access keys";
    case Kind::kProcess: return "credential_process";
    case Kind::kWebIdentity: return "web identity (STS AssumeRoleWithWebIdentity)";
    case Kind::kAssumeRole: return "assumed role (STS AssumeRole)";
    case Kind::kContainer: return "container credentials";
    case Kind::kInstanceMetadata: return "EC2 instance metadata (IMDSv2)";
  }
  return "credentials";
}

bool container_url_allowed(const std::string& url) {
  const std::string host = host_of(url);
  if (host.empty() || host.find('%') != std::string::npos) return false;
  if (url.rfind("https://", 0) == 0) return true;
  if (url.rfind("http://", 0) != 0) return false;
  if (host == "localhost") return true;
  // Addresses only, parsed, never a name that merely starts like one ("127.0.0.1.example").
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    const std::uint32_t a = ntohl(v4.s_addr);
    return (a >> 24) == 127 || a == 0xA9FEAA02 /* 169.254.170.2 */ ||
           a == 0xA9FEAA17 /* 169.254.170.23 */;
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6{}, loopback{}, eks{};
    const std::string inner = host.substr(1, host.size() - 2);
    if (inet_pton(AF_INET6, inner.c_str(), &v6) != 1) return false;
    inet_pton(AF_INET6, "::1", &loopback);
    inet_pton(AF_INET6, "fd00:ec2::23", &eks);
    return std::memcmp(&v6, &loopback, sizeof v6) == 0 || std::memcmp(&v6, &eks, sizeof v6) == 0;
  }
  return false;
}

std::shared_ptr<const CredentialSource> with_sts_region(
    const std::shared_ptr<const CredentialSource>& source, const std::string& region) {
  if (!source) return source;
  auto inner = with_sts_region(source->source, region);
  const bool moves = source->sts.regional_default && source->sts.region != region;
  if (!moves && inner == source->source) return source;
  auto copy = std::make_shared<CredentialSource>(*source);
  copy->source = inner;
  if (moves) {
    copy->sts.url = aws_sts_url(region);
    copy->sts.region = region;
  }
  return copy;
}

std::string aws_sts_url(const std::string& region) {
  const bool china = region.rfind("cn-", 0) == 0;
  return fmt::format("https://sts.{}.amazonaws.com{}", region, china ? ".cn" : "");
}

std::string identity(const CredentialSource& source) {
  switch (source.kind) {
    case Kind::kStatic: return "keys " + source.credentials.access_key_id;
    case Kind::kProcess: return "process " + source.command;
    case Kind::kWebIdentity:
      return fmt::format("web identity {} {} {}", source.role_arn, source.token_file,
                         source.sts.url);
    case Kind::kAssumeRole:
      return fmt::format("role {} {} {} from ({})", source.role_arn, source.external_id,
                         source.sts.url, source.source ? identity(*source.source) : "");
    case Kind::kContainer: return "container " + source.url;
    case Kind::kInstanceMetadata: return "imds " + source.metadata_endpoint;
  }
  return {};
}

Result<TimedCredentials> fetch_credentials(const CredentialSource& source,
                                           const FetchOptions& options) {
  const std::function<http::Response(http::Request)> perform =
      options.perform ? options.perform
                      : [](http::Request r) { return http::perform(std::move(r)); };
  const Sts sts{options, perform};
  switch (source.kind) {
    case Kind::kStatic: return TimedCredentials{source.credentials, std::nullopt};
    case Kind::kProcess: return run_credential_process(source.command);
    case Kind::kWebIdentity: return fetch_web_identity(source, sts);
    case Kind::kAssumeRole: return fetch_assumed_role(source, sts);
    case Kind::kContainer: return fetch_container(source, sts);
    case Kind::kInstanceMetadata: return fetch_instance_metadata(source, sts);
  }
  return Error::permanent("unknown credential source");
}

Result<TimedCredentials> parse_sts_credentials(std::string_view xml) {
  TimedCredentials out;
  std::string expiration;
  const std::string problem =
      read_xml(xml, {nullptr, [&](const XmlPath& path, std::string_view text) {
                       if (path.size() != 4 || path[2] != "Credentials") return;
                       if (path[3] == "AccessKeyId") out.credentials.access_key_id = text;
                       if (path[3] == "SecretAccessKey") out.credentials.secret_access_key = text;
                       if (path[3] == "SessionToken") out.credentials.session_token = text;
                       if (path[3] == "Expiration") expiration = text;
                     }});
  if (!problem.empty())
    return Error::permanent("STS answered a document that is not XML: " + problem);
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty())
    return Error::permanent("STS answered without AccessKeyId and SecretAccessKey");
  if (!expiration.empty()) {
    out.expiration = parse_iso8601_utc(expiration);
    if (!out.expiration)
      return Error::permanent("STS answered an Expiration that is not an ISO 8601 time: " +
                              expiration);
  }
  return out;
}

Result<TimedCredentials> parse_json_credentials(std::string_view json, std::string_view what) {
  const auto doc = nlohmann::json::parse(json, nullptr, false);
  auto text = [&](const char* name) -> std::string {
    if (!doc.is_object() || !doc.contains(name) || !doc[name].is_string()) return {};
    return doc[name].get<std::string>();
  };
  if (!doc.is_object())
    return Error::permanent(fmt::format("{} answered a document that is not JSON", what));
  // The instance metadata service says "Code": "Success"; anything else is its error.
  if (auto code = text("Code"); !code.empty() && code != "Success")
    return Error::transient(fmt::format("{} answered Code {}", what, code));
  TimedCredentials out;
  out.credentials.access_key_id = text("AccessKeyId");
  out.credentials.secret_access_key = text("SecretAccessKey");
  out.credentials.session_token = text("Token");
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty())
    return Error::permanent(
        fmt::format("{} answered without AccessKeyId and SecretAccessKey", what));
  if (auto expiration = text("Expiration"); !expiration.empty()) {
    out.expiration = parse_iso8601_utc(expiration);
    if (!out.expiration)
      return Error::permanent(fmt::format(
          "{} answered an Expiration that is not an ISO 8601 time: {}", what, expiration));
  }
  return out;
}

}  // namespace rehome::s3
