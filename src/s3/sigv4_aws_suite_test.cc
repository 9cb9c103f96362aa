// Checks compute_signature() against AWS's SigV4 test suite (tests/data/sigv4-test-suite), one
// test instance per vector folder. The suite signs for a generic service; see skip_reason() for
// where S3 signs differently. The presigned-URL (query-*) files are not used: rehome signs
// headers only.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "s3/sigv4.h"
#include "util/crypto.h"
#include "util/uri.h"

namespace rehome::s3 {
namespace {

namespace fs = std::filesystem;

fs::path suite_dir() { return fs::path(REHOME_TEST_DATA) / "sigv4-test-suite"; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Expected-output files; tolerate one trailing newline so an editor cannot break the test.
std::string read_expected(const fs::path& path) {
  std::string text = read_file(path);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

/// "2015-08-30T12:36:00Z" as a time point.
std::chrono::system_clock::time_point parse_timestamp(const std::string& text) {
  int year = 0;
  unsigned month = 0, day = 0;
  int hour = 0, minute = 0, second = 0;
  if (std::sscanf(text.c_str(), "%d-%u-%uT%d:%d:%dZ", &year, &month, &day, &hour, &minute,
                  &second) != 6) {
    throw std::runtime_error("bad timestamp " + text);
  }
  using namespace std::chrono;
  return sys_days{std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day}} +
         hours{hour} + minutes{minute} + seconds{second};
}

/// request.txt: "METHOD path[?query] HTTP/1.1", "Name:value" lines (a line starting with a
/// blank continues the previous value, folded with a space), a blank line, the body.
struct RawRequest {
  std::string method;
  std::string path;   // as written: not percent-encoded
  std::string query;  // as written: percent-encoded where the suite encoded it
  http::Headers headers;
  std::string body;
};

RawRequest parse_request(const std::string& text) {
  RawRequest raw;
  std::size_t head_end = text.find("\n\n");
  std::string head = text.substr(0, head_end);
  if (head_end != std::string::npos) raw.body = text.substr(head_end + 2);

  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  std::size_t method_end = line.find(' ');
  std::size_t target_end = line.rfind(" HTTP/");
  raw.method = line.substr(0, method_end);
  std::string target = line.substr(method_end + 1, target_end - method_end - 1);
  std::size_t question = target.find('?');
  raw.path = target.substr(0, question);
  if (question != std::string::npos) raw.query = target.substr(question + 1);

  while (std::getline(lines, line)) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !raw.headers.empty()) {
      raw.headers.back().second += ' ' + line;
      continue;
    }
    std::size_t colon = line.find(':');
    raw.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return raw;
}

std::vector<std::pair<std::string, std::string>> parse_query(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream parts(query);
  std::string part;
  while (std::getline(parts, part, '&')) {
    std::size_t equals = part.find('=');
    std::string value = equals == std::string::npos ? "" : part.substr(equals + 1);
    out.emplace_back(uri_decode(part.substr(0, equals)), uri_decode(value));
  }
  return out;
}

/// True when RFC 3986 dot-segment removal or "//" merging would change the path.
bool normalisation_changes(const std::string& path) {
  std::istringstream segments(path.substr(1));
  std::string segment;
  std::vector<std::string> all;
  while (std::getline(segments, segment, '/')) all.push_back(segment);
  if (!path.empty() && path.back() == '/') all.emplace_back();
  for (std::size_t i = 0; i < all.size(); ++i) {
    bool last = i + 1 == all.size();
    if (all[i] == "." || all[i] == ".." || (all[i].empty() && !last)) return true;
  }
  return false;
}

struct Vector {
  SigningRequest request;
  Credentials credentials;
  std::chrono::system_clock::time_point time;
  std::string skip_reason;  // empty: run it
};

Vector load_vector(const std::string& name) {
  fs::path dir = suite_dir() / name;
  auto context = nlohmann::json::parse(read_file(dir / "context.json"));
  RawRequest raw = parse_request(read_file(dir / "request.txt"));

  Vector v;
  v.time = parse_timestamp(context.at("timestamp"));
  v.credentials.access_key_id = context.at("credentials").at("access_key_id");
  v.credentials.secret_access_key = context.at("credentials").at("secret_access_key");
  v.credentials.session_token = context.at("credentials").value("token", "");

  SigningRequest& r = v.request;
  r.method = raw.method;
  r.path = uri_encode(raw.path, /*keep_slash=*/true);  // the suite writes paths unencoded
  r.query = parse_query(raw.query);
  r.region = context.at("region");
  r.service = context.at("service");
  r.payload_sha256 = to_hex(sha256(raw.body));
  for (auto& [header_name, value] : raw.headers) {
    if (header_name == "Host") {
      r.host = value;
    } else {
      r.headers.emplace_back(header_name, value);
    }
  }
  // The suite signs x-amz-date always, the token unless told to add it after signing, and the
  // body hash header only for sign_body cases; compute_signature signs what it is given.
  r.headers.emplace_back("X-Amz-Date", amz_date(v.time));
  if (!v.credentials.session_token.empty() && !context.value("omit_session_token", false)) {
    r.headers.emplace_back("X-Amz-Security-Token", v.credentials.session_token);
  }
  if (context.value("sign_body", false)) {
    r.headers.emplace_back("X-Amz-Content-Sha256", r.payload_sha256);
  }

  // S3 signs the path exactly as sent: "/a/./b" and "/a/b" are different keys to S3. The
  // generic suite normalises when context says so; those cases do not describe S3.
  if (context.value("normalize", false) && normalisation_changes(raw.path)) {
    v.skip_reason = "path normalisation: S3 signs the path as sent (see the -unnormalized twin)";
  }
  return v;
}

std::vector<std::string> vector_names() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(suite_dir(), error)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

class AwsSigV4Suite : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    vector_ = load_vector(GetParam());
    if (!vector_.skip_reason.empty()) GTEST_SKIP() << vector_.skip_reason;
    parts_ = compute_signature(vector_.request, vector_.credentials, vector_.time);
  }
  std::string expected(const char* file) const {
    return read_expected(suite_dir() / GetParam() / file);
  }

  Vector vector_;
  SigningParts parts_;
};

TEST_P(AwsSigV4Suite, builds_the_expected_canonical_request) {
  EXPECT_EQ(parts_.canonical_request, expected("header-canonical-request.txt"));
}

TEST_P(AwsSigV4Suite, builds_the_expected_string_to_sign) {
  EXPECT_EQ(parts_.string_to_sign, expected("header-string-to-sign.txt"));
}

TEST_P(AwsSigV4Suite, computes_the_expected_signature) {
  EXPECT_EQ(parts_.signature, expected("header-signature.txt"));
}

INSTANTIATE_TEST_SUITE_P(Vectors, AwsSigV4Suite, testing::ValuesIn(vector_names()), test_name);

TEST(AwsSigV4SuiteCoverage, runs_more_than_20_vectors_and_skips_only_the_normalised_paths) {
  // Guards against a wrong data path or a too-eager skip turning the suite into a silent pass.
  int run = 0;
  int skipped = 0;
  for (const auto& name : vector_names()) {
    (load_vector(name).skip_reason.empty() ? run : skipped) += 1;
  }
  EXPECT_GT(run, 20);
  EXPECT_EQ(skipped, 6);
}

}  // namespace
}  // namespace rehome::s3
