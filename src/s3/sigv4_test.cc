// S3-specific SigV4 behaviour: AWS's four documented S3 examples end to end through
// sign_request(), then the rules the generic suite (sigv4_aws_suite_test.cc) does not pin down.
#include "s3/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "util/crypto.h"
#include "util/uri.h"

namespace rehome::s3 {
namespace {

using std::chrono::system_clock;
using namespace std::chrono_literals;

// 2013-05-24T00:00:00Z, the time of AWS's S3 examples.
const system_clock::time_point kExampleTime =
    std::chrono::sys_days{std::chrono::year{2013} / 5 / 24};
constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

nlohmann::json load_examples() {
  std::ifstream in(std::string(REHOME_TEST_DATA) + "/sigv4-s3-examples.json");
  if (!in) throw std::runtime_error("cannot read sigv4-s3-examples.json");
  return nlohmann::json::parse(in);
}

std::vector<std::string> example_names() {
  std::vector<std::string> names;
  try {
    nlohmann::json all = load_examples();  // named: a range-for over a temporary's member dangles
    for (const auto& c : all.at("cases")) names.push_back(c.at("name"));
  } catch (const std::exception&) {
    // Leave the list empty: gtest then fails the uninstantiated suite, and
    // runs_all_four_documented_examples reports the reason.
  }
  return names;
}

/// The header named `name` (case-insensitive) in `headers`; "" when absent, "<twice>" when
/// repeated, so a duplicate cannot pass unnoticed.
std::string header(const http::Headers& headers, std::string_view name) {
  std::string found;
  int count = 0;
  for (const auto& [key, value] : headers) {
    bool same = key.size() == name.size() &&
                std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
                  return std::tolower(static_cast<unsigned char>(a)) ==
                         std::tolower(static_cast<unsigned char>(b));
                });
    if (same) {
      found = value;
      ++count;
    }
  }
  return count > 1 ? "<twice>" : found;
}

class S3DocumentedExample : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    nlohmann::json all = load_examples();
    for (const auto& c : all.at("cases")) {
      if (c.at("name") == GetParam()) example_ = c;
    }
    credentials_.access_key_id = all.at("credentials").at("access_key_id");
    credentials_.secret_access_key = all.at("credentials").at("secret_access_key");
    request_.method = example_.at("method");
    request_.host = example_.at("host");
    // The examples give the key unencoded ("/test$file.text"); SigningRequest wants it as sent.
    request_.path = uri_encode(example_.at("path").get<std::string>(), /*keep_slash=*/true);
    for (const auto& [name, value] : example_.at("query").items()) {
      request_.query.emplace_back(name, value);
    }
    for (const auto& [name, value] : example_.at("headers").items()) {
      request_.headers.emplace_back(name, value);
    }
    std::string body = example_.value("body", "");
    request_.payload_sha256 = to_hex(sha256(body));
    request_.region = all.at("region");
    request_.service = all.at("service");
    ASSERT_EQ(amz_date(kExampleTime), all.at("x_amz_date"));
  }

  nlohmann::json example_;
  Credentials credentials_;
  SigningRequest request_;
};

TEST_P(S3DocumentedExample, sign_request_produces_the_documented_authorization) {
  http::Headers headers = sign_request(request_, credentials_, kExampleTime);
  std::string expected =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
      "s3/aws4_request, SignedHeaders=" +
      example_.at("signed_headers").get<std::string>() +
      ", Signature=" + example_.at("signature").get<std::string>();
  EXPECT_EQ(header(headers, "authorization"), expected);
}

TEST_P(S3DocumentedExample, hashes_the_body_to_the_documented_payload_hash) {
  http::Headers headers = sign_request(request_, credentials_, kExampleTime);
  EXPECT_EQ(header(headers, "x-amz-content-sha256"), example_.at("payload_sha256"));
}

TEST_P(S3DocumentedExample, canonical_request_uses_the_documented_uri_and_query) {
  request_.headers.emplace_back("x-amz-date", amz_date(kExampleTime));
  request_.headers.emplace_back("x-amz-content-sha256", request_.payload_sha256);
  std::istringstream lines(
      compute_signature(request_, credentials_, kExampleTime).canonical_request);
  std::string method, uri, query;
  std::getline(lines, method);
  std::getline(lines, uri);
  std::getline(lines, query);
  EXPECT_EQ(uri, example_.value("canonical_uri", example_.at("path").get<std::string>()));
  EXPECT_EQ(query, example_.value("canonical_query", ""));
}

std::string example_test_name(const testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Aws, S3DocumentedExample, testing::ValuesIn(example_names()),
                         example_test_name);

TEST(S3DocumentedExamples, runs_all_four_documented_examples) {
  EXPECT_EQ(load_examples().at("cases").size(), 4u);
}

// --- sign_request: what it adds ---------------------------------------------------------

SigningRequest simple_get() {
  SigningRequest request;
  request.method = "GET";
  request.host = "legacy-s3.example.com:9000";
  request.path = "/legacy-s3/image/a%20b.png";
  request.payload_sha256 = kEmptySha256;
  request.region = "us-east-1";
  return request;
}

Credentials key_only() { return {"AKIDEXAMPLE", "secret", "", ""}; }

TEST(SigV4SignRequest, keeps_the_request_headers_and_adds_host_date_and_payload_hash) {
  SigningRequest request = simple_get();
  request.headers.emplace_back("Range", "bytes=0-9");
  http::Headers headers = sign_request(request, key_only(), kExampleTime);
  EXPECT_EQ(header(headers, "range"), "bytes=0-9");
  EXPECT_EQ(header(headers, "host"), "legacy-s3.example.com:9000");
  EXPECT_EQ(header(headers, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(header(headers, "x-amz-content-sha256"), kEmptySha256);
  EXPECT_EQ(headers.size(), 5u);  // range, host, date, payload hash, authorization
}

TEST(SigV4SignRequest, sends_and_signs_the_session_token_when_there_is_one) {
  Credentials credentials = key_only();
  credentials.session_token = "token/with+chars==";
  http::Headers headers = sign_request(simple_get(), credentials, kExampleTime);
  EXPECT_EQ(header(headers, "x-amz-security-token"), "token/with+chars==");
  EXPECT_NE(header(headers, "authorization")
                .find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos);
}

TEST(SigV4SignRequest, sends_no_session_token_without_one) {
  http::Headers headers = sign_request(simple_get(), key_only(), kExampleTime);
  EXPECT_EQ(header(headers, "x-amz-security-token"), "");
}

TEST(SigV4SignRequest, signature_matches_compute_signature_over_the_same_headers) {
  SigningRequest request = simple_get();
  http::Headers headers = sign_request(request, key_only(), kExampleTime);
  request.headers = {{"x-amz-content-sha256", kEmptySha256},
                     {"x-amz-date", amz_date(kExampleTime)}};
  std::string signature = compute_signature(request, key_only(), kExampleTime).signature;
  EXPECT_TRUE(header(headers, "authorization").ends_with(", Signature=" + signature));
}

TEST(SigV4SignRequest, rejects_headers_it_adds_itself) {
  for (const char* name :
       {"Host", "X-Amz-Date", "x-amz-content-sha256", "Authorization", "x-amz-security-token"}) {
    SCOPED_TRACE(name);
    SigningRequest request = simple_get();
    request.headers.emplace_back(name, "x");
    EXPECT_THROW((void)sign_request(request, key_only(), kExampleTime), std::invalid_argument);
  }
}

TEST(SigV4SignRequest, rejects_an_empty_host) {
  SigningRequest request = simple_get();
  request.host.clear();
  EXPECT_THROW((void)sign_request(request, key_only(), kExampleTime), std::invalid_argument);
}

// --- compute_signature: canonical request rules -----------------------------------------

std::vector<std::string> canonical_lines(const SigningRequest& request) {
  std::istringstream in(compute_signature(request, key_only(), kExampleTime).canonical_request);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(SigV4CanonicalRequest, uses_the_path_as_sent_without_normalising_or_re_encoding) {
  SigningRequest request = simple_get();
  request.path = "/legacy-s3/image//a%20b/../c.png";
  EXPECT_EQ(canonical_lines(request).at(1), "/legacy-s3/image//a%20b/../c.png");
}

TEST(SigV4CanonicalRequest, encodes_query_names_and_values_including_slashes) {
  SigningRequest request = simple_get();
  request.query = {{"prefix", "image/a b+c"}, {"list-type", "2"}};
  EXPECT_EQ(canonical_lines(request).at(2), "list-type=2&prefix=image%2Fa%20b%2Bc");
}

TEST(SigV4CanonicalRequest, renders_value_less_query_parameters_with_an_equals_sign) {
  SigningRequest request = simple_get();
  request.query = {{"delete", ""}};
  EXPECT_EQ(canonical_lines(request).at(2), "delete=");
}

TEST(SigV4CanonicalRequest, sorts_repeated_query_names_by_value) {
  SigningRequest request = simple_get();
  request.query = {{"a", "2"}, {"a", "1"}, {"A", "3"}};
  EXPECT_EQ(canonical_lines(request).at(2), "A=3&a=1&a=2");
}

TEST(SigV4CanonicalRequest, sorts_header_names_bytewise_so_a_prefix_comes_first) {
  SigningRequest request = simple_get();
  request.headers = {{"x-amz-copy-source-if-match", "\"etag\""},
                     {"X-Amz-Copy-Source", "/legacy-s3/image/a.png"}};
  std::vector<std::string> lines = canonical_lines(request);
  EXPECT_EQ(lines.at(3), "host:legacy-s3.example.com:9000");
  EXPECT_EQ(lines.at(4), "x-amz-copy-source:/legacy-s3/image/a.png");
  EXPECT_EQ(lines.at(5), "x-amz-copy-source-if-match:\"etag\"");
  EXPECT_EQ(lines.at(7), "host;x-amz-copy-source;x-amz-copy-source-if-match");
}

TEST(SigV4CanonicalRequest, trims_header_values_and_collapses_inner_blanks) {
  SigningRequest request = simple_get();
  request.headers = {{"x-amz-meta-note", " \t a  \t b   c\t"}};
  EXPECT_EQ(canonical_lines(request).at(4), "x-amz-meta-note:a b c");
}

TEST(SigV4CanonicalRequest, ends_with_the_payload_hash_as_given) {
  SigningRequest request = simple_get();
  request.payload_sha256 = "UNSIGNED-PAYLOAD";
  EXPECT_EQ(canonical_lines(request).back(), "UNSIGNED-PAYLOAD");
}

TEST(SigV4CanonicalRequest, rejects_host_given_both_as_field_and_header) {
  SigningRequest request = simple_get();
  request.headers = {{"Host", "other"}};
  EXPECT_THROW((void)compute_signature(request, key_only(), kExampleTime), std::invalid_argument);
}

TEST(SigV4CanonicalRequest, rejects_an_empty_payload_hash) {
  SigningRequest request = simple_get();
  request.payload_sha256.clear();
  EXPECT_THROW((void)compute_signature(request, key_only(), kExampleTime), std::invalid_argument);
}

// --- SigningKeyCache: one derived key per scope, same signatures -------------------------

TEST(SigningKeyCache, signatures_with_the_cache_equal_those_without_it) {
  SigningKeyCache keys;
  for (auto time : {kExampleTime, kExampleTime + 1h, kExampleTime + 24h, kExampleTime + 25h}) {
    SCOPED_TRACE(amz_date(time));
    EXPECT_EQ(compute_signature(simple_get(), key_only(), time, &keys).signature,
              compute_signature(simple_get(), key_only(), time).signature);
  }
}

TEST(SigningKeyCache, derives_a_new_key_when_the_day_region_or_secret_changes) {
  SigningKeyCache keys;
  const std::string first = keys.key("secret", "20130524", "us-east-1", "s3");
  EXPECT_NE(keys.key("secret", "20130525", "us-east-1", "s3"), first);
  EXPECT_NE(keys.key("secret", "20130524", "eu-west-1", "s3"), first);
  EXPECT_NE(keys.key("other", "20130524", "us-east-1", "s3"), first);
  EXPECT_EQ(keys.key("secret", "20130524", "us-east-1", "s3"), first);
}

TEST(SigningKeyCache, sign_request_with_the_cache_sends_the_same_authorization) {
  SigningKeyCache keys;
  SigningRequest request = simple_get();
  request.headers.emplace_back("x-amz-copy-source", "/legacy-s3/image/a%20b.png");
  for (int i = 0; i < 2; ++i) {  // the second signs with the cached key
    EXPECT_EQ(header(sign_request(request, key_only(), kExampleTime, &keys), "authorization"),
              header(sign_request(request, key_only(), kExampleTime), "authorization"));
  }
}

// --- amz_date / amz_day -----------------------------------------------------------------

TEST(AmzDate, formats_utc_time_as_basic_iso_8601) {
  auto time = std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + 23h + 59min + 59s;
  EXPECT_EQ(amz_date(time), "20240229T235959Z");
}

TEST(AmzDate, drops_fractions_of_a_second) {
  EXPECT_EQ(amz_date(kExampleTime + 999ms), "20130524T000000Z");
}

TEST(AmzDay, formats_the_utc_calendar_day) {
  auto time = std::chrono::sys_days{std::chrono::year{1999} / 12 / 31} + 23h + 59min + 59s;
  EXPECT_EQ(amz_day(time), "19991231");
}

}  // namespace
}  // namespace rehome::s3
