// The one rule for "this copy is identical" (object_decision.h), rule by rule.
#include "engine/object_decision.h"

#include <gtest/gtest.h>

namespace rehome::engine {
namespace {

constexpr const char* kMd5A = "0cc175b9c0f1b6a831c399e269772661";
constexpr const char* kMd5B = "92eb5ffee6ae2fec3ad71c777531578f";
constexpr const char* kMultipart = "9b2cf535f27731c974343645a3985328-3";

s3::ObjectInfo listed(const char* key, std::string etag, std::int64_t size = 10) {
  s3::ObjectInfo o;
  o.key = key;
  o.etag = std::move(etag);
  o.size = size;
  return o;
}

s3::ObjectInfo headed(const char* key, std::string etag, std::int64_t size = 10,
                      std::string encryption = "") {
  s3::ObjectInfo o = listed(key, std::move(etag), size);
  o.described = true;
  o.encryption = std::move(encryption);
  return o;
}

TEST(ObjectDecision, copies_when_production_has_no_twin) {
  EXPECT_EQ(decide(listed("image/a", kMd5A), std::nullopt), ObjectAction::kCopy);
}

TEST(ObjectDecision, a_twin_with_the_same_etag_and_size_is_already_copied) {
  EXPECT_EQ(decide(listed("image/a", kMd5A), listed("avatar/a", kMd5A)),
            ObjectAction::kAlreadyCopied);
  EXPECT_EQ(decide(listed("image/a", kMultipart), listed("avatar/a", kMultipart)),
            ObjectAction::kAlreadyCopied);
}

TEST(ObjectDecision, a_twin_of_another_size_is_a_conflict_even_from_listings) {
  EXPECT_EQ(decide(listed("image/a", kMd5A, 10), listed("avatar/a", kMd5A, 11)),
            ObjectAction::kConflict);
}

TEST(ObjectDecision,
     listings_alone_never_prove_two_etags_different_because_kms_etags_are_not_md5s) {
  EXPECT_EQ(decide(listed("image/a", kMd5A), listed("avatar/a", kMd5B)), ObjectAction::kLookCloser);
  EXPECT_EQ(decide(listed("image/a", kMultipart), listed("avatar/a", kMd5B)),
            ObjectAction::kLookCloser);
  EXPECT_EQ(decide(listed("image/a", kMd5A), listed("avatar/a", "")), ObjectAction::kLookCloser);
}

TEST(ObjectDecision, two_described_md5_etags_that_differ_are_a_conflict) {
  Identity id = compare(headed("image/a", kMd5A), headed("avatar/a", kMd5B));
  EXPECT_EQ(id.verdict, Sameness::kDifferent);
  EXPECT_EQ(id.basis, "MD5 ETags");
  EXPECT_FALSE(id.own_older_copy);
  EXPECT_EQ(decide(headed("image/a", kMd5A), headed("avatar/a", kMd5B)), ObjectAction::kConflict);
}

TEST(ObjectDecision, sse_s3_keeps_md5_etags_but_kms_and_customer_keys_do_not) {
  EXPECT_TRUE(has_md5_etag(headed("k", kMd5A, 1, "AES256")));
  EXPECT_FALSE(has_md5_etag(headed("k", kMd5A, 1, "aws:kms")));
  EXPECT_FALSE(has_md5_etag(headed("k", kMd5A, 1, "aws:kms:dsse")));
  EXPECT_FALSE(has_md5_etag(headed("k", kMd5A, 1, "SSE-C")));
  EXPECT_FALSE(has_md5_etag(headed("k", kMultipart)));
  EXPECT_FALSE(has_md5_etag(listed("k", kMd5A))) << "a listing does not say how it is encrypted";
}

TEST(ObjectDecision, a_kms_twin_without_checksum_or_mark_is_unproven_never_the_same) {
  Identity id =
      compare(headed("image/a", kMd5A, 10, "aws:kms"), headed("avatar/a", kMd5B, 10, "aws:kms"));
  EXPECT_EQ(id.verdict, Sameness::kUnproven);
  EXPECT_EQ(
      decide(headed("image/a", kMd5A, 10, "aws:kms"), headed("avatar/a", kMd5B, 10, "aws:kms")),
      ObjectAction::kConflict);
}

TEST(ObjectDecision, equal_full_object_checksums_prove_a_kms_or_multipart_copy) {
  auto legacy = headed("image/a", kMultipart);
  auto twin = headed("avatar/a", kMd5B, 10, "aws:kms");
  legacy.checksum = twin.checksum = s3::Checksum{"CRC64NVME", "AAAAAAAAAAA="};
  EXPECT_EQ(compare(legacy, twin).verdict, Sameness::kSame);
  EXPECT_EQ(compare(legacy, twin).basis, "checksum");
}

TEST(ObjectDecision, checksums_outrank_etags_and_marks) {
  auto legacy = headed("image/a", kMd5A);
  auto twin = headed("avatar/a", kMd5A);
  legacy.checksum = s3::Checksum{"CRC32", "AAAAAA=="};
  twin.checksum = s3::Checksum{"CRC32", "BBBBBB=="};
  EXPECT_EQ(compare(legacy, twin).verdict, Sameness::kDifferent);
}

TEST(ObjectDecision, checksums_of_different_algorithms_are_not_compared) {
  auto legacy = headed("image/a", kMd5A, 10, "aws:kms");
  auto twin = headed("avatar/a", kMd5B, 10, "aws:kms");
  legacy.checksum = s3::Checksum{"CRC32", "AAAAAA=="};
  twin.checksum = s3::Checksum{"CRC64NVME", "AAAAAAAAAAA="};
  EXPECT_EQ(compare(legacy, twin).verdict, Sameness::kUnproven);
}

TEST(ObjectDecision, rehomes_mark_naming_the_legacy_etag_proves_a_multipart_copy_across_reruns) {
  auto twin = headed("avatar/a", kMd5B);
  twin.copied_from_etag = kMultipart;
  EXPECT_EQ(compare(headed("image/a", kMultipart), twin).verdict, Sameness::kSame);
  EXPECT_EQ(decide(listed("image/a", kMultipart), twin), ObjectAction::kAlreadyCopied);
}

TEST(ObjectDecision, rehomes_mark_naming_another_etag_is_its_copy_of_an_older_version) {
  auto twin = headed("avatar/a", kMd5B, 10, "aws:kms");
  twin.copied_from_etag = "11111111111111111111111111111111-2";
  Identity id = compare(headed("image/a", kMultipart), twin);
  EXPECT_EQ(id.verdict, Sameness::kDifferent);
  EXPECT_TRUE(id.own_older_copy);
  EXPECT_NE(describe_difference(headed("image/a", kMultipart), twin, id, "s3://p/avatar/a")
                .find("older version"),
            std::string::npos);
}

TEST(ObjectDecision, two_md5s_outrank_a_mark_that_names_the_legacy_etag) {
  // radosgw ignores x-amz-copy-source-if-match: a copy marked with ETag A may hold B.
  auto twin = headed("avatar/a", kMd5B);
  twin.copied_from_etag = kMd5A;
  Identity id = compare(headed("image/a", kMd5A), twin);
  EXPECT_EQ(id.verdict, Sameness::kDifferent);
  EXPECT_TRUE(id.own_older_copy);
}

TEST(ObjectDecision, a_size_difference_outranks_everything) {
  auto twin = headed("avatar/a", kMd5A, 11);
  twin.copied_from_etag = kMd5A;
  EXPECT_EQ(compare(headed("image/a", kMd5A, 10), twin).verdict, Sameness::kDifferent);
  EXPECT_EQ(compare(headed("image/a", kMd5A, 10), twin).basis, "size");
}

TEST(ObjectDecision, an_unproven_twin_is_explained_with_what_to_do) {
  auto legacy = headed("image/a", kMd5A, 10, "aws:kms");
  auto twin = headed("avatar/a", kMd5B, 10, "aws:kms");
  std::string text = describe_difference(legacy, twin, compare(legacy, twin), "s3://p/avatar/a");
  EXPECT_NE(text.find("s3://p/avatar/a"), std::string::npos);
  EXPECT_NE(text.find("no checksum"), std::string::npos);
  EXPECT_NE(text.find("delete the twin"), std::string::npos);
}

TEST(ObjectDecision, recognises_multipart_etags) {
  EXPECT_TRUE(is_multipart_etag(kMultipart));
  EXPECT_FALSE(is_multipart_etag(kMd5A));
}

}  // namespace
}  // namespace rehome::engine
