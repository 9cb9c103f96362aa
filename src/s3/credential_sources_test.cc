// One fetch from each credential source against scripted answers: what is sent (method, URL,
// headers, form fields, the signature's scope) and what is made of each answer, errors included.
// The integration suite (tests/integration/credentials_test.cc) runs them against radosgw's STS
// and the loopback stand-in for the AWS-only endpoints.
#include "s3/credential_sources.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>

#include "util/uri.h"

namespace rehome::s3 {
namespace {

using Kind = CredentialSource::Kind;

http::Response answer(long status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// Records every request and answers from a queue.
struct Scripted {
  std::vector<http::Request> sent;
  std::deque<http::Response> answers;

  FetchOptions options() {
    FetchOptions o;
    o.retry_pause = std::chrono::milliseconds(0);
    o.perform = [this](http::Request r) {
      sent.push_back(std::move(r));
      if (answers.empty()) return answer(500, "no scripted answer");
      http::Response next = answers.front();
      answers.pop_front();
      return next;
    };
    return o;
  }
};

std::string header(const http::Request& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    std::string lower = n;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) return v;
  }
  return {};
}

// The decoded value of one field of a form body.
std::string field(const std::string& body, const std::string& name) {
  std::size_t at = 0;
  while (at <= body.size()) {
    std::size_t end = body.find('&', at);
    if (end == std::string::npos) end = body.size();
    std::string pair = body.substr(at, end - at);
    if (pair.starts_with(name + "=")) return uri_decode(pair.substr(name.size() + 1), true);
    at = end + 1;
  }
  return "<missing>";
}

const char* kStsAnswer =
    R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:jobs:rehome</SubjectFromWebIdentityToken>
    <Credentials>
      <AccessKeyId>ASIAWEB</AccessKeyId>
      <SecretAccessKey>web-secret</SecretAccessKey>
      <SessionToken>web-token</SessionToken>
      <Expiration>2026-12-03T21:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>)";

class CredentialSources : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("rehome-sources-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::filesystem::path dir_;
};

TEST_F(CredentialSources, web_identity_sends_the_token_file_as_it_is_now) {
  CredentialSource source;
  source.kind = Kind::kWebIdentity;
  source.role_arn = "arn:aws:iam::123456789012:role/rehome";
  source.role_session_name = "rehome-1";
  source.token_file = file("token", "eyJ.first\n");
  source.sts = {"https://sts.eu-west-1.amazonaws.com", "eu-west-1"};
  Scripted server;
  server.answers = {answer(200, kStsAnswer), answer(200, kStsAnswer)};
  auto got = fetch_credentials(source, server.options());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->credentials.access_key_id, "ASIAWEB");
  EXPECT_EQ(got->credentials.secret_access_key, "web-secret");
  EXPECT_EQ(got->credentials.session_token, "web-token");
  EXPECT_EQ(got->expiration, parse_iso8601_utc("2026-12-03T21:00:00Z"));
  const http::Request& sent = server.sent.at(0);
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, "https://sts.eu-west-1.amazonaws.com/");
  EXPECT_EQ(header(sent, "authorization"), "");  // the token is the proof: unsigned
  EXPECT_EQ(field(sent.body, "Action"), "AssumeRoleWithWebIdentity");
  EXPECT_EQ(field(sent.body, "Version"), "2011-06-15");
  EXPECT_EQ(field(sent.body, "RoleArn"), "arn:aws:iam::123456789012:role/rehome");
  EXPECT_EQ(field(sent.body, "RoleSessionName"), "rehome-1");
  EXPECT_EQ(field(sent.body, "WebIdentityToken"), "eyJ.first");

  file("token", "eyJ.rotated");  // the kubelet rotates it: the next fetch sends the new one
  ASSERT_TRUE(fetch_credentials(source, server.options()));
  EXPECT_EQ(field(server.sent.at(1).body, "WebIdentityToken"), "eyJ.rotated");

  std::filesystem::remove(dir_ / "token");
  got = fetch_credentials(source, server.options());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message, "cannot read the web identity token file " + source.token_file +
                                     ": check that it exists and is readable");
}

TEST_F(CredentialSources, an_sts_refusal_is_named_and_throttling_is_tried_again) {
  CredentialSource source;
  source.kind = Kind::kWebIdentity;
  source.role_arn = "arn:aws:iam::1:role/r";
  source.role_session_name = "s";
  source.token_file = file("token", "t");
  source.sts = {"https://sts.example", "us-east-1"};
  Scripted server;
  server.answers = {answer(400, R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>
  <Message>Couldn't retrieve verification key from your identity provider</Message></Error>
  <RequestId>r-1</RequestId></ErrorResponse>)")};
  auto got = fetch_credentials(source, server.options());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message,
            "POST https://sts.example/: HTTP 400 (InvalidIdentityToken: Couldn't retrieve "
            "verification key from your identity provider; check the cluster's OIDC provider in "
            "IAM and the token's audience (sts.amazonaws.com))");
  EXPECT_EQ(got.error().code, "InvalidIdentityToken");
  EXPECT_EQ(server.sent.size(), 1U);

  const char* throttled =
      "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
      "</ErrorResponse>";
  server.sent.clear();
  server.answers = {answer(400, throttled), answer(503, ""), answer(200, kStsAnswer)};
  got = fetch_credentials(source, server.options());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(server.sent.size(), 3U);

  server.answers = {answer(400, throttled), answer(400, throttled), answer(400, throttled)};
  got = fetch_credentials(source, server.options());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kTransient);
}

TEST_F(CredentialSources, assume_role_is_signed_for_sts_with_the_source_credentials) {
  auto signer = std::make_shared<CredentialSource>();
  signer->kind = Kind::kStatic;
  signer->credentials = {"SOURCEKEY", "source-secret", "", "profile dev"};
  signer->description = "profile dev";
  CredentialSource source;
  source.kind = Kind::kAssumeRole;
  source.role_arn = "arn:aws:iam::123456789012:role/mover";
  source.role_session_name = "sre";
  source.external_id = "ext-1";
  source.duration_seconds = 3600;
  source.source = signer;
  source.sts = {"http://127.0.0.1:7480", "us-west-1"};
  Scripted server;
  server.answers = {answer(200, R"(<AssumeRoleResponse><AssumeRoleResult><Credentials>
    <AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey>
    <SessionToken>role-token</SessionToken><Expiration>2026-12-03T22:00:00.000Z</Expiration>
    </Credentials></AssumeRoleResult></AssumeRoleResponse>)")};
  auto got = fetch_credentials(source, server.options());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->credentials.access_key_id, "ASIAROLE");
  EXPECT_EQ(got->credentials.session_token, "role-token");
  const http::Request& sent = server.sent.at(0);
  EXPECT_EQ(sent.url, "http://127.0.0.1:7480/");
  EXPECT_NE(header(sent, "authorization").find("Credential=SOURCEKEY/"), std::string::npos);
  EXPECT_NE(header(sent, "authorization").find("/us-west-1/sts/aws4_request"), std::string::npos);
  EXPECT_EQ(header(sent, "content-type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(field(sent.body, "Action"), "AssumeRole");
  EXPECT_EQ(field(sent.body, "ExternalId"), "ext-1");
  EXPECT_EQ(field(sent.body, "DurationSeconds"), "3600");
  EXPECT_EQ(field(sent.body, "RoleSessionName"), "sre");
}

TEST_F(CredentialSources, the_container_endpoint_gets_the_token_file_as_it_is_now) {
  CredentialSource source;
  source.kind = Kind::kContainer;
  source.url = "http://169.254.170.23/v1/credentials";
  source.authorization_file = file("auth", "first-token\n");
  const char* creds = R"({"AccessKeyId": "ASIAPOD", "SecretAccessKey": "pod-secret",
    "Token": "pod-token", "AccountId": "123456789012", "Expiration": "2026-12-03T21:00:00Z"})";
  Scripted server;
  server.answers = {answer(200, creds), answer(200, creds)};
  auto got = fetch_credentials(source, server.options());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->credentials.access_key_id, "ASIAPOD");
  EXPECT_EQ(got->credentials.session_token, "pod-token");
  EXPECT_EQ(server.sent.at(0).method, "GET");
  EXPECT_EQ(server.sent.at(0).url, "http://169.254.170.23/v1/credentials");
  EXPECT_EQ(header(server.sent.at(0), "authorization"), "first-token");
  EXPECT_TRUE(server.sent.at(0).no_proxy) << "the token must not go through a proxy";
  file("auth", "second-token");
  ASSERT_TRUE(fetch_credentials(source, server.options()));
  EXPECT_EQ(header(server.sent.at(1), "authorization"), "second-token");

  server.answers = {answer(401, R"({"code": "AccessDeniedException", "message": "bad token"})")};
  got = fetch_credentials(source, server.options());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message,
            "GET http://169.254.170.23/v1/credentials: HTTP 401 (bad token; the endpoint refused "
            "the authorization token: check its source)");
  EXPECT_EQ(got.error().message.find("second-token"), std::string::npos);
}

TEST_F(CredentialSources, a_token_with_a_line_break_is_refused_before_any_request) {
  CredentialSource source;
  source.kind = Kind::kContainer;
  source.url = "http://169.254.170.23/v1/credentials";
  source.authorization = "token\r\nX-Injected: 1";
  Scripted server;
  auto got = fetch_credentials(source, server.options());
  ASSERT_FALSE(got);
  EXPECT_TRUE(server.sent.empty());
  EXPECT_EQ(got.error().message.find("X-Injected"), std::string::npos);
  EXPECT_NE(got.error().message.find("holds a line break"), std::string::npos);
}

TEST_F(CredentialSources, the_buckets_tls_settings_apply_only_on_the_buckets_own_host) {
  CredentialSource source;
  source.kind = Kind::kWebIdentity;
  source.role_arn = "arn:aws:iam::1:role/r";
  source.role_session_name = "s";
  source.token_file = file("token", "t");
  Scripted server;
  server.answers = {answer(200, kStsAnswer), answer(200, kStsAnswer)};
  FetchOptions options = server.options();
  options.bucket_host = "store.internal";
  options.ca_bundle = "/etc/private-ca.pem";
  options.verify_tls = false;  // --no-verify-ssl
  options.other_ca_bundle = "/etc/aws-ca.pem";
  source.sts = {"https://store.internal:8443", "us-east-1"};  // the store serves STS itself
  ASSERT_TRUE(fetch_credentials(source, options));
  EXPECT_EQ(server.sent[0].ca_bundle, "/etc/private-ca.pem");
  EXPECT_FALSE(server.sent[0].verify_tls);
  source.sts = {"https://sts.eu-west-1.amazonaws.com", "eu-west-1"};  // AWS's STS: verified
  ASSERT_TRUE(fetch_credentials(source, options));
  EXPECT_EQ(server.sent[1].ca_bundle, "/etc/aws-ca.pem");
  EXPECT_TRUE(server.sent[1].verify_tls);
}

TEST_F(CredentialSources, instance_metadata_asks_for_a_session_token_then_the_role) {
  CredentialSource source;
  source.kind = Kind::kInstanceMetadata;
  source.metadata_endpoint = "http://127.0.0.1:1338";
  Scripted server;
  server.answers = {answer(200, "imds-session"), answer(200, "rehome-role\n"),
                    answer(200, R"({"Code": "Success", "Type": "AWS-HMAC",
                      "AccessKeyId": "ASIAEC2", "SecretAccessKey": "ec2-secret",
                      "Token": "ec2-token", "Expiration": "2026-12-03T21:00:00Z"})")};
  auto got = fetch_credentials(source, server.options());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->credentials.access_key_id, "ASIAEC2");
  ASSERT_EQ(server.sent.size(), 3U);
  EXPECT_EQ(server.sent[0].method, "PUT");
  EXPECT_TRUE(server.sent[0].no_proxy) << "a proxy cannot reach the link-local service";
  EXPECT_EQ(server.sent[0].url, "http://127.0.0.1:1338/latest/api/token");
  EXPECT_EQ(header(server.sent[0], "x-aws-ec2-metadata-token-ttl-seconds"), "21600");
  EXPECT_EQ(server.sent[1].url, "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/");
  EXPECT_EQ(header(server.sent[1], "x-aws-ec2-metadata-token"), "imds-session");
  EXPECT_EQ(server.sent[2].url,
            "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/rehome-role");
  EXPECT_EQ(header(server.sent[2], "x-aws-ec2-metadata-token"), "imds-session");

  server.answers = {answer(200, "imds-session"), answer(404, "")};
  got = fetch_credentials(source, server.options());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().message,
            "the EC2 instance metadata service at http://127.0.0.1:1338 names no IAM role: attach "
            "an instance profile to this instance");
}

TEST_F(CredentialSources, instance_metadata_as_the_last_resort_names_everything_tried) {
  CredentialSource source;
  source.kind = Kind::kInstanceMetadata;
  source.metadata_endpoint = "http://127.0.0.1:1338";
  source.tried_before = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set";
  Scripted server;
  server.answers = {http::Response{}};
  server.answers.front().transport_error = "Connection timed out after 1000 milliseconds";
  auto got = fetch_credentials(source, server.options());
  ASSERT_FALSE(got);
  EXPECT_EQ(server.sent.size(), 1U);  // one quick try: a laptop is not kept waiting
  EXPECT_EQ(got.error().message,
            "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and the "
            "EC2 instance metadata service did not give any (PUT "
            "http://127.0.0.1:1338/latest/api/token: no answer (Connection timed out after 1000 "
            "milliseconds)); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile with "
            "--profile or AWS_PROFILE, or set AWS_EC2_METADATA_DISABLED=true to skip the instance "
            "metadata");
}

TEST(CredentialDocuments, malformed_answers_are_errors_that_show_no_secret) {
  EXPECT_FALSE(parse_sts_credentials("<not xml"));
  auto no_keys = parse_sts_credentials("<R><Result><Credentials></Credentials></Result></R>");
  ASSERT_FALSE(no_keys);
  EXPECT_EQ(no_keys.error().message, "STS answered without AccessKeyId and SecretAccessKey");
  auto bad_time = parse_json_credentials(
      R"({"AccessKeyId": "A", "SecretAccessKey": "S3CRET", "Expiration": "soon"})", "the stand-in");
  ASSERT_FALSE(bad_time);
  EXPECT_EQ(bad_time.error().message,
            "the stand-in answered an Expiration that is not an ISO 8601 time: soon");
  auto failed = parse_json_credentials(R"({"Code": "AssumeRoleUnauthorizedAccess"})", "IMDS");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "IMDS answered Code AssumeRoleUnauthorizedAccess");
  auto not_json = parse_json_credentials("S3CRET", "IMDS");
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().message.find("S3CRET"), std::string::npos);
}

}  // namespace
}  // namespace rehome::s3
