// Issue 16: what production buckets hold and the lab's radosgw does not show by itself, on the
// real radosgw and PostgreSQL. Multipart objects are real (radosgw's own multipart uploads).
// SSE-KMS ETags, archived objects and full-object checksums come from the AWS-behaviour
// stand-in (tests/faults/aws_behaviour.py), a loopback proxy in front of the same radosgw:
// no server off AWS has them.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "aws_proxy.h"
#include "http/loop.h"
#include "migration_env.h"

namespace rehome::testing {
namespace {

class RealBuckets : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    env_ = std::make_unique<MigrationEnv>();
    dir_ = std::filesystem::temp_directory_path() / fmt::format("rehome-buckets-{}", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    proxy_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  /// Starts the AWS-behaviour stand-in with this configuration; rehome then talks to it.
  void start_proxy(const std::string& config_json) {
    proxy_ = std::make_unique<AwsProxy>(*env_, config_json, dir_ / "proxy");
  }
  std::vector<std::string> rehome_env() const {
    return proxy_ ? proxy_->binary_env(*env_) : env_->binary_env();
  }
  /// "bucket/key" as the stand-in's patterns name objects (a regex, fully matched), with no
  /// backslash to escape in JSON: "." becomes "[.]".
  std::string object_pattern(const std::string& bucket, const std::string& key) const {
    std::string pattern = bucket + "/";
    for (char c : key) {
      if (c == '.') {
        pattern += "[.]";
      } else {
        pattern += c;
      }
    }
    return pattern;
  }

  int rehome(const std::vector<std::string>& args, std::string* out) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--progress", "none"});
    return run_rehome(all, rehome_env(), out);
  }

  std::string legacy_key(int i) { return fmt::format("image/avatar-{}.png", i); }
  std::string production_key(int i) { return fmt::format("avatar/avatar-{}.png", i); }

  void expect_all_moved(const std::vector<std::int64_t>& ids) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const int n = static_cast<int>(i);
      EXPECT_EQ(env_->path_of(ids[i]), production_key(n));
      EXPECT_EQ(env_->get(env_->production_bucket(), production_key(n)), avatar_bytes(n));
    }
  }

  std::int64_t count(const std::string& sql) { return env_->sql(sql).int64(0, 0); }

  std::unique_ptr<MigrationEnv> env_;
  std::unique_ptr<AwsProxy> proxy_;
  std::filesystem::path dir_;
};

// Section 1, through the stand-in: GLACIER objects answer 403 InvalidObjectState.
TEST_F(RealBuckets, an_archived_object_fails_alone_says_restore_it_and_moves_once_restored) {
  auto ids = env_->seed_legacy(20);
  start_proxy(
      fmt::format(R"({{"archived": "{}"}})", object_pattern(env_->legacy_bucket(), legacy_key(7))));
  std::string out;
  ASSERT_EQ(rehome({"run"}, &out), 3) << out;
  EXPECT_NE(out.find(legacy_key(7)), std::string::npos) << "the summary names the object";
  EXPECT_NE(out.find("InvalidObjectState"), std::string::npos) << out;
  EXPECT_NE(out.find("restore it"), std::string::npos) << out;
  EXPECT_EQ(env_->path_of(ids[7]), legacy_key(7));
  EXPECT_EQ(count("SELECT count(*) FROM avatars WHERE path LIKE 'avatar/%'"), 19);
  auto failed = env_->sql("SELECT detail FROM rehome.objects WHERE state = 'failed'");
  ASSERT_EQ(failed.size(), 1);
  EXPECT_NE(std::string(failed.text(0, 0)).find("restore-object"), std::string::npos);

  proxy_->configure("{}");  // Restored.
  ASSERT_EQ(rehome({"run"}, &out), 0) << out;
  expect_all_moved(ids);
}

// Issue 18, section 4, through the stand-in: the legacy bucket lives in eu-west-3 while rehome
// is configured for us-east-1. The stand-in answers like AWS's regional endpoints (400
// AuthorizationHeaderMalformed with x-amz-bucket-region); rehome learns the region once, signs
// every later request to that bucket for it, and the job completes.
TEST_F(RealBuckets, a_bucket_in_another_region_is_learned_once_and_the_job_completes) {
  auto ids = env_->seed_legacy(40);
  start_proxy(fmt::format(R"({{"bucket_regions": {{"{}": "eu-west-3"}}}})", env_->legacy_bucket()));
  std::string out;
  ASSERT_EQ(rehome({"run"}, &out), 0) << out;
  expect_all_moved(ids);
  const auto stats = nlohmann::json::parse(proxy_->stats());
  const int refused = stats.value("aws_wrong_region", 0);
  EXPECT_GT(refused, 0) << "the stand-in must have refused the first requests";
  EXPECT_LT(refused, 20) << "learned once, not refused request after request: " << stats.dump();
}

// Section 2, through the stand-in: both buckets encrypt with SSE-KMS, so no ETag is an MD5.
TEST_F(RealBuckets, kms_objects_are_copied_once_each_and_a_relist_copies_nothing) {
  auto ids = env_->seed_legacy(30);
  start_proxy(fmt::format(R"({{"kms_buckets": ["{}", "{}"]}})", env_->legacy_bucket(),
                          env_->production_bucket()));
  std::string out;
  ASSERT_EQ(rehome({"run"}, &out), 0) << out;
  EXPECT_NE(out.find(" 30 copied,"), std::string::npos) << out;
  expect_all_moved(ids);
  EXPECT_EQ(count("SELECT count(*) FROM rehome.objects WHERE state <> 'copied'"), 0);
  ASSERT_EQ(rehome({"run", "--relist"}, &out), 0) << out;
  EXPECT_NE(out.find(" 0 copied,"), std::string::npos) << out;
  EXPECT_NE(out.find("0 conflict"), std::string::npos) << out;
  ASSERT_EQ(rehome({"verify"}, &out), 0) << out;
  EXPECT_NE(out.find("conflicts: 0;"), std::string::npos) << out;
}

TEST_F(RealBuckets, a_kms_copy_killed_before_its_record_is_recognised_by_the_rerun) {
  auto ids = env_->seed_legacy(12);
  start_proxy(fmt::format(R"({{"kms_buckets": ["{}", "{}"]}})", env_->legacy_bucket(),
                          env_->production_bucket()));
  auto killed = rehome_env();
  killed.push_back("REHOME_FAILPOINT=after-a-copy-before-its-record");
  std::string out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none"}, killed, &out), 128 + SIGKILL) << out;
  ASSERT_EQ(rehome({"run"}, &out), 0) << out;
  EXPECT_EQ(count("SELECT count(*) FROM rehome.objects WHERE state = 'conflict'"), 0) << out;
  expect_all_moved(ids);
}

TEST_F(RealBuckets, an_unmarked_kms_twin_with_other_bytes_of_the_same_size_is_a_conflict) {
  auto ids = env_->seed_legacy(3);
  // The app uploaded different bytes of the same length to production itself.
  std::string other = avatar_bytes(1);
  other.back() = static_cast<char>(other.back() ^ 1);
  env_->put(env_->production_bucket(), production_key(1), other);
  start_proxy(fmt::format(R"({{"kms_buckets": ["{}", "{}"]}})", env_->legacy_bucket(),
                          env_->production_bucket()));
  std::string out;
  ASSERT_EQ(rehome({"run"}, &out), 3) << out;
  EXPECT_NE(out.find("holds different content"), std::string::npos) << out;
  EXPECT_EQ(env_->get(env_->production_bucket(), production_key(1)), other) << "never overwritten";
  EXPECT_EQ(env_->path_of(ids[1]), legacy_key(1));
  EXPECT_EQ(env_->path_of(ids[2]), production_key(2));
}

// Section 4, through the stand-in: full-object checksums prove KMS twins without reading them.
TEST_F(RealBuckets, checksums_prove_kms_twins_someone_else_copied) {
  auto ids = env_->seed_legacy(10);
  for (int i = 0; i < 10; ++i) {
    env_->put(env_->production_bucket(), production_key(i), avatar_bytes(i));
  }
  start_proxy(fmt::format(R"({{"kms_buckets": ["{}", "{}"], "checksums": "all"}})",
                          env_->legacy_bucket(), env_->production_bucket()));
  std::string out;
  ASSERT_EQ(rehome({"run"}, &out), 0) << out;
  EXPECT_NE(out.find(" 0 copied,"), std::string::npos) << out;
  EXPECT_NE(proxy_->stats().find("\"aws_checksums\": "), std::string::npos);
  EXPECT_EQ(proxy_->stats().find("\"aws_checksums\": 0,"), std::string::npos) << proxy_->stats();
  expect_all_moved(ids);
}

// Section 3, on radosgw itself: multipart ETags are not MD5s and a server-side copy gets a new
// one, so only rehome's mark (or the bytes) can tell a rerun that the twin is its copy.
TEST_F(RealBuckets, multipart_objects_move_and_a_kill_before_the_record_leaves_no_conflict) {
  // radosgw, like AWS, wants every part but the last to be at least 5 MiB.
  std::vector<std::int64_t> ids;
  std::vector<std::string> bodies;
  for (int i = 0; i < 4; ++i) {
    bodies.push_back(std::string(5 << 20, static_cast<char>('a' + i)) + avatar_bytes(i));
    env_->put_multipart(env_->legacy_bucket(), legacy_key(i),
                        {bodies.back().substr(0, 5 << 20), bodies.back().substr(5 << 20)});
    ids.push_back(env_->insert_row(legacy_key(i)));
  }
  auto killed = rehome_env();
  killed.push_back("REHOME_FAILPOINT=after-a-copy-before-its-record");
  std::string out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none"}, killed, &out), 128 + SIGKILL) << out;
  ASSERT_EQ(rehome({"run"}, &out), 0) << out;
  EXPECT_EQ(count("SELECT count(*) FROM rehome.objects WHERE state = 'conflict'"), 0) << out;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(env_->path_of(ids[static_cast<std::size_t>(i)]), production_key(i));
    EXPECT_EQ(env_->get(env_->production_bucket(), production_key(i)),
              bodies[static_cast<std::size_t>(i)]);
  }
  ASSERT_EQ(rehome({"verify"}, &out), 0) << out;
  EXPECT_NE(out.find("conflicts: 0;"), std::string::npos) << out;
}

// Section 5: what a copy carries. CopyObject keeps metadata and tags, not the ACL; --acl
// asks for one, and radosgw enforces it (an anonymous GET is let in).
TEST_F(RealBuckets, acl_gives_every_copy_the_canned_acl_asked_for) {
  auto ids = env_->seed_legacy(3);
  auto anonymous_get = [&](const std::string& key) {
    http::Loop loop;
    http::Request request;
    request.url = fmt::format("{}/{}/{}", env_->config().production.client.endpoint.url,
                              env_->production_bucket(), key);
    std::optional<long> status;
    loop.submit(std::move(request), [&](http::Response&& r) { status = r.status; });
    while (!status) loop.run();
    return *status;
  };
  std::string out;
  ASSERT_EQ(rehome({"run", "--acl", "public-read", "--storage-class", "STANDARD"}, &out), 0) << out;
  EXPECT_NE(out.find("acl: public-read (from --acl)"), std::string::npos) << out;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(anonymous_get(production_key(i)), 200) << i;
  expect_all_moved(ids);
}

TEST_F(RealBuckets, acl_on_a_bucket_with_acls_disabled_stops_at_the_first_copy_and_says_why) {
  auto ids = env_->seed_legacy(10);
  start_proxy(fmt::format(R"({{"acls_disabled": ["{}"]}})", env_->production_bucket()));
  std::string out;
  ASSERT_EQ(rehome({"run", "--acl", "public-read"}, &out), 1) << out;
  EXPECT_NE(out.find("AccessControlListNotSupported"), std::string::npos) << out;
  EXPECT_NE(out.find("run without --acl"), std::string::npos) << out;
  EXPECT_EQ(count("SELECT count(*) FROM avatars WHERE path LIKE 'avatar/%'"), 0);
  ASSERT_EQ(rehome({"run"}, &out), 0) << out;  // Without --acl it goes through.
  expect_all_moved(ids);
}

TEST_F(RealBuckets, an_archive_storage_class_is_refused_before_anything_is_touched) {
  env_->seed_legacy(2);
  std::string out;
  ASSERT_EQ(rehome({"run", "--storage-class", "DEEP_ARCHIVE"}, &out), 2) << out;
  EXPECT_NE(out.find("could not serve them"), std::string::npos) << out;
  EXPECT_EQ(env_->get(env_->production_bucket(), production_key(0)), std::nullopt);
}

// Section 6: between two endpoints (here the same radosgw by two names, so rehome cannot copy
// server-side) a large object streams through rehome in parts, with its headers and tags.
TEST_F(RealBuckets, a_large_object_streams_between_endpoints_in_parts_with_headers_and_tags) {
  const std::string legacy = env_->legacy_bucket(), production = env_->production_bucket();
  env_->python(
      fmt::format("body = bytes((i * 7) % 251 for i in range(20 * 1024 * 1024 + 3))\n"
                  "st, h, d = s3.request('PUT', '{}', 'image/big.png', body=body, headers={{"
                  "'content-type': 'image/webp', 'cache-control': 'max-age=600', "
                  "'x-amz-meta-owner': '42', 'x-amz-tagging': 'team=web&tier=hot'}})\n"
                  "assert st == 200, (st, d)\n",
                  legacy));
  const auto id = env_->insert_row("image/big.png");
  const std::string url = env_->config().legacy.client.endpoint.url;
  const std::string other_name = "http://localhost:" + url.substr(url.rfind(':') + 1);
  std::string out;
  ASSERT_EQ(rehome({"run", "--legacy-endpoint", url, "--production-endpoint", other_name}, &out), 0)
      << out;
  EXPECT_EQ(env_->path_of(id), "avatar/big.png");
  const std::string seen = env_->python(fmt::format(
      "st, h, d = s3.get('{0}', 'avatar/big.png')\n"
      "body = bytes((i * 7) % 251 for i in range(20 * 1024 * 1024 + 3))\n"
      "print('same' if d == body else 'DIFFERENT')\n"
      "print(h.get('content-type'), h.get('cache-control'), h.get('x-amz-meta-owner'))\n"
      "print('mark' if h.get('x-amz-meta-rehome-source-etag') else 'no mark')\n"
      "print('parts' if '-' in h.get('etag', '') else 'single')\n"
      "st, h, d = s3.request('GET', '{0}', 'avatar/big.png', query={{'tagging': ''}})\n"
      "print('tags' if b'team' in d and b'hot' in d else 'NO TAGS')\n",
      production));
  EXPECT_NE(seen.find("same"), std::string::npos) << seen;
  EXPECT_NE(seen.find("image/webp max-age=600 42"), std::string::npos) << seen;
  EXPECT_NE(seen.find("mark"), std::string::npos) << seen;
  EXPECT_NE(seen.find("parts"), std::string::npos) << seen;
  EXPECT_NE(seen.find("tags"), std::string::npos) << seen;
  // A rerun knows the multipart twin as its own copy, by its mark.
  ASSERT_EQ(
      rehome({"run", "--relist", "--legacy-endpoint", url, "--production-endpoint", other_name},
             &out),
      0)
      << out;
  EXPECT_NE(out.find(" 0 copied,"), std::string::npos) << out;
}

}  // namespace
}  // namespace rehome::testing
