// Objects above --multipart-threshold on the real radosgw (issue 18, section 5): copied as
// multipart uploads (UploadPartCopy on one endpoint; UploadPart through rehome between two
// endpoints), verified, recorded before their first part; a run killed in the middle of one
// leaves an upload the next run aborts, and the application's upload to the same key is left
// alone. The threshold is lowered (8MB) so that the objects can be small.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "migration_env.h"
#include "util/crypto.h"

namespace rehome::testing {
namespace {

constexpr std::int64_t kMiB = 1024 * 1024;

std::string bytes_of(std::int64_t size, char seed) {
  std::string body(static_cast<std::size_t>(size), '\0');
  for (std::size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<char>(static_cast<std::size_t>(seed) + i * 7 % 233);
  return body;
}

class Multipart : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    env_ = std::make_unique<MigrationEnv>();
  }

  // A 20 MB avatar (and its row): the object the issue names.
  std::int64_t seed_large(const std::string& name, std::int64_t size, char seed) {
    body_ = bytes_of(size, seed);
    env_->put(env_->legacy_bucket(), "image/" + name, body_);
    return env_->insert_row("image/" + name);
  }

  std::string production_etag(const std::string& key) {
    auto head = s3::run_to_completion<s3::ObjectInfo>(env_->loop(), [&](auto done) {
      env_->s3().head_object(env_->production_bucket(), key, std::move(done));
    });
    EXPECT_TRUE(head) << head.error().message;
    return head ? head->etag : "";
  }

  std::unique_ptr<MigrationEnv> env_;
  std::string body_;
};

TEST_F(Multipart, a_20_mb_object_is_copied_by_upload_part_copy_and_verified) {
  const auto id = seed_large("large.png", 20 * kMiB, 'L');
  auto small = env_->seed_legacy(3);
  std::string out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--multipart-threshold", "8MB"},
                       env_->binary_env(), &out),
            0)
      << out;
  EXPECT_NE(out.find("multipart-threshold: 8MB (from --multipart-threshold)"), std::string::npos)
      << out;
  EXPECT_EQ(env_->path_of(id), "avatar/large.png");
  auto copy = env_->get(env_->production_bucket(), "avatar/large.png");
  ASSERT_TRUE(copy);
  EXPECT_EQ(to_hex(md5(*copy)), to_hex(md5(body_)));
  EXPECT_TRUE(production_etag("avatar/large.png").ends_with("-3")) << "8 + 8 + 4 MiB";
  for (std::size_t i = 0; i < small.size(); ++i)
    EXPECT_EQ(env_->path_of(small[i]), fmt::format("avatar/avatar-{}.png", i));
  EXPECT_EQ(env_->sql("SELECT count(*) FROM rehome.uploads").int64(0, 0), 0);

  // verify proves the copy by the identity rule (size, and rehome's mark: the ETag is a
  // multipart one), and a rerun copies nothing again.
  EXPECT_EQ(run_rehome({"verify", "--progress", "none"}, env_->binary_env(), &out), 0) << out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--relist", "--multipart-threshold", "8MB"},
                       env_->binary_env(), &out),
            0)
      << out;
  EXPECT_NE(out.find(" 0 copied, 4 already copied"), std::string::npos) << out;
}

TEST_F(Multipart, between_two_endpoints_the_parts_go_through_rehome) {
  const char* tls = std::getenv("REHOME_TEST_RGW_TLS_ENDPOINT");
  const char* plain = std::getenv("REHOME_TEST_RGW_ENDPOINT");
  const char* ca = std::getenv("REHOME_TEST_CA_BUNDLE");
  ASSERT_TRUE(tls && *tls && plain && *plain && ca && *ca)
      << "REHOME_TEST_RGW_TLS_ENDPOINT, REHOME_TEST_RGW_ENDPOINT, REHOME_TEST_CA_BUNDLE "
         "(scripts/start-rgw sets them)";
  const auto id = seed_large("streamed.png", 13 * kMiB + 17, 'S');
  auto env = env_->binary_env();
  std::string out;
  // The legacy bucket over HTTPS, production over HTTP: two endpoints, no server-side copy.
  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--legacy-endpoint", tls,
                        "--production-endpoint", plain, "--ca-bundle", ca, "--multipart-threshold",
                        "6MB", "--multipart-chunksize", "5MB"},
                       env, &out),
            0)
      << out;
  EXPECT_EQ(env_->path_of(id), "avatar/streamed.png");
  auto copy = env_->get(env_->production_bucket(), "avatar/streamed.png");
  ASSERT_TRUE(copy);
  EXPECT_EQ(to_hex(md5(*copy)), to_hex(md5(body_)));
  EXPECT_TRUE(production_etag("avatar/streamed.png").ends_with("-3")) << "5 + 5 + 3 MiB";
}

TEST_F(Multipart, an_upload_a_kill_left_is_aborted_by_the_next_run_and_no_other) {
  const auto id = seed_large("killed.png", 18 * kMiB, 'K');
  auto env = env_->binary_env();
  env.push_back("REHOME_FAILPOINT=multipart-upload-recorded");
  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none", "--multipart-threshold", "8MB"}, env, &out),
            128 + 9)
      << out;
  auto left = env_->sql("SELECT upload_id, key FROM rehome.uploads");
  ASSERT_EQ(left.size(), 1);
  const std::string upload_id(left.text(0, 0));
  EXPECT_EQ(left.text(0, 1), "avatar/killed.png");
  EXPECT_FALSE(upload_id.empty());

  // The application uploads to the same key meanwhile (multipart, not finished yet).
  s3::PutRequest create;
  create.bucket = env_->production_bucket();
  create.key = "avatar/killed.png";
  auto theirs = s3::run_to_completion<std::string>(env_->loop(), [&](auto done) {
    env_->s3().create_multipart_upload(create, std::move(done));
  });
  ASSERT_TRUE(theirs) << theirs.error().message;

  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--multipart-threshold", "8MB"},
                       env_->binary_env(), &out),
            0)
      << out;
  EXPECT_NE(out.find("multipart uploads left by a killed run: 1 aborted"), std::string::npos)
      << out;
  EXPECT_EQ(env_->path_of(id), "avatar/killed.png");
  auto copy = env_->get(env_->production_bucket(), "avatar/killed.png");
  ASSERT_TRUE(copy);
  EXPECT_EQ(to_hex(md5(*copy)), to_hex(md5(body_)));
  // An upload exists while a part can be sent to it (rehome's client takes NoSuchUpload on an
  // abort as done, so an abort cannot tell).
  auto send_part = [&](const std::string& upload) {
    s3::UploadPartRequest part;
    part.bucket = env_->production_bucket();
    part.key = "avatar/killed.png";
    part.upload_id = upload;
    part.body = "x";
    return s3::run_to_completion<std::string>(
        env_->loop(), [&](auto done) { env_->s3().upload_part(part, std::move(done)); });
  };
  auto ours_again = send_part(upload_id);
  ASSERT_FALSE(ours_again) << "rehome's leftover upload is gone";
  EXPECT_EQ(ours_again.error().code, "NoSuchUpload") << ours_again.error().message;
  EXPECT_TRUE(send_part(*theirs)) << "the application's upload is still there";
  EXPECT_EQ(env_->sql("SELECT count(*) FROM rehome.uploads").int64(0, 0), 0);
}

}  // namespace
}  // namespace rehome::testing
