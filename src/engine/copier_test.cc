// The Copier's state machine against the in-tree fake S3: every path from "listed" to an
// outcome, with the answers real servers give (AWS honours conditional writes, radosgw does
// not), faults, and a legacy object that changes under the copy.
#include "engine/copier.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "fake_s3.h"
#include "util/crypto.h"

namespace rehome::engine {
namespace {

using fakes::FakeS3;
using Kind = CopyOutcome::Kind;
using Op = FakeS3::Op;

constexpr const char* kLegacy = "legacy-s3";
constexpr const char* kProduction = "production-s3";

class CopierTest : public ::testing::TestWithParam<bool> {
 protected:
  CopierTest() {
    config_.legacy.bucket = kLegacy;
    config_.production.bucket = kProduction;
  }

  bool server_side() const { return GetParam(); }

  // One S3 for both buckets, as when one endpoint and one set of credentials reach both.
  CopyOutcome settle_listed(const std::string& key) {
    Copier copier(s3_, s3_, config_, server_side());
    auto legacy = listed(kLegacy, key);
    std::optional<s3::ObjectInfo> twin;
    auto production_key = "avatar/" + key.substr(6);
    if (s3_.object(kProduction, production_key)) twin = listed(kProduction, production_key);
    return wait([&](Copier::Done done) { copier.settle(legacy, twin, std::move(done)); });
  }

  CopyOutcome settle_key(const std::string& key) {
    Copier copier(s3_, s3_, config_, server_side());
    return wait([&](Copier::Done done) { copier.settle_key(key, std::move(done)); });
  }

  s3::ObjectInfo listed(const std::string& bucket, const std::string& key) {
    auto o = s3_.object(bucket, key);
    s3::ObjectInfo info;
    info.key = key;
    if (o) {
      info.etag = o->etag;
      info.size = static_cast<std::int64_t>(o->body.size());
    }
    return info;
  }

  template <typename Start>
  CopyOutcome wait(Start start) {
    std::optional<CopyOutcome> out;
    int calls = 0;
    start([&](CopyOutcome o) {
      ++calls;
      out = std::move(o);
    });
    EXPECT_EQ(calls, 1) << "the outcome must be reported exactly once";
    if (!out) throw std::runtime_error("no outcome");
    return *out;
  }

  std::string production_body(const std::string& key) {
    auto o = s3_.object(kProduction, key);
    return o ? o->body : "(absent)";
  }

  JobConfig config_;
  FakeS3 s3_;
};

TEST_P(CopierTest, copies_an_object_without_a_twin_and_verifies_it) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kCopied);
  EXPECT_EQ(out.record.state, ObjectState::kCopied);
  EXPECT_EQ(out.record.etag, to_hex(md5("AAAA")));
  EXPECT_EQ(out.record.production_etag, to_hex(md5("AAAA")));
  EXPECT_EQ(out.bytes_copied, 4);
  EXPECT_EQ(production_body("avatar/a.png"), "AAAA");
  EXPECT_FALSE(out.fatal);
}

TEST_P(CopierTest, an_empty_object_is_copied_and_counts_no_bytes) {
  s3_.put(kLegacy, "image/empty.png", "");
  auto out = settle_listed("image/empty.png");
  EXPECT_EQ(out.kind, Kind::kCopied);
  EXPECT_EQ(out.bytes_copied, 0);
  EXPECT_EQ(production_body("avatar/empty.png"), "");
}

TEST_P(CopierTest, an_identical_twin_is_already_copied_and_nothing_is_written) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.put(kProduction, "avatar/a.png", "AAAA");
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kAlreadyCopied);
  EXPECT_EQ(out.bytes_copied, 0);
  EXPECT_EQ(s3_.calls(Op::kCopy) + s3_.calls(Op::kPut), 0u);
}

TEST_P(CopierTest, a_differing_twin_is_a_conflict_and_is_never_overwritten) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.put(kProduction, "avatar/a.png", "app's newer upload");
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kConflict);
  EXPECT_EQ(out.record.state, ObjectState::kConflict);
  EXPECT_NE(out.record.detail.find("s3://production-s3/avatar/a.png holds different content"),
            std::string::npos)
      << out.record.detail;
  EXPECT_EQ(production_body("avatar/a.png"), "app's newer upload");
  EXPECT_EQ(s3_.overwrites(), 0u);
}

TEST_P(CopierTest, a_twin_written_by_the_app_during_the_copy_is_never_overwritten) {
  // The app writes its own object just before rehome's write; the AWS dialect refuses rehome's
  // conditional write with 412, and the Copier must look again and report a conflict.
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.before(server_side() ? Op::kCopy : Op::kPut, [&](const std::string& key) {
    if (!s3_.object(kProduction, key)) s3_.put(kProduction, key, "app upload");
  });
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kConflict);
  EXPECT_EQ(production_body("avatar/a.png"), "app upload");
  EXPECT_EQ(s3_.overwrites(), 0u);
}

TEST_P(CopierTest, a_legacy_object_that_vanished_is_source_missing) {
  auto out = settle_key("image/gone.png");
  EXPECT_EQ(out.kind, Kind::kSourceMissing);
  EXPECT_EQ(out.record.state, ObjectState::kMissing);
  EXPECT_FALSE(out.fatal);
}

TEST_P(CopierTest, a_legacy_object_deleted_after_listing_is_source_missing) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.before(server_side() ? Op::kCopy : Op::kGet,
             [&](const std::string&) { s3_.remove(kLegacy, "image/a.png"); });
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kSourceMissing);
  EXPECT_EQ(production_body("avatar/a.png"), "(absent)");
}

TEST_P(CopierTest, an_object_the_server_refuses_fails_alone_and_says_what_to_do) {
  struct Case {
    Error error;
    const char* advice;
  };
  const Case cases[] = {
      {fakes::access_denied("image/a.png"), "only this object is refused"},
      {fakes::forbidden("image/a.png", "InvalidObjectState"), "the object is archived"},
      {fakes::forbidden("image/a.png", ""), "only this object is refused"},  // HEAD: no body.
  };
  for (const auto& c : cases) {
    s3_.put(kLegacy, "image/a.png", "AAAA");
    s3_.remove(kProduction, "avatar/a.png");
    s3_.fail(server_side() ? Op::kCopy : Op::kGet, server_side() ? "avatar/a.png" : "image/a.png",
             c.error);
    auto out = settle_listed("image/a.png");
    EXPECT_EQ(out.kind, Kind::kFailed) << c.error.code;
    EXPECT_EQ(out.record.state, ObjectState::kFailed);
    EXPECT_FALSE(out.fatal) << c.error.code << ": one object's 403 must not stop the job";
    ASSERT_TRUE(out.refusal);
    EXPECT_EQ(out.refusal->code, c.error.code);
    EXPECT_NE(out.record.detail.find(c.error.message), std::string::npos) << out.record.detail;
    EXPECT_NE(out.record.detail.find(c.advice), std::string::npos) << out.record.detail;
    EXPECT_NE(out.record.detail.find("rows stay legacy"), std::string::npos);
  }
}

TEST_P(CopierTest, credentials_that_stop_working_are_fatal_to_the_job) {
  for (const char* code :
       {"ExpiredToken", "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed"}) {
    s3_.put(kLegacy, "image/a.png", "AAAA");
    s3_.remove(kProduction, "avatar/a.png");
    s3_.fail(server_side() ? Op::kCopy : Op::kGet, server_side() ? "avatar/a.png" : "image/a.png",
             fakes::forbidden("image/a.png", code));
    auto out = settle_listed("image/a.png");
    EXPECT_EQ(out.kind, Kind::kFailed) << code;
    ASSERT_TRUE(out.fatal) << code;
    EXPECT_EQ(out.fatal->code, code);
    EXPECT_FALSE(out.refusal) << code;
  }
}

TEST_P(CopierTest, a_server_error_fails_only_the_object) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  Error e = Error::transient("avatar/a.png: 500 InternalError");
  s3_.fail(server_side() ? Op::kCopy : Op::kPut, "avatar/a.png", e);
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_FALSE(out.fatal);
  EXPECT_EQ(out.record.detail, e.message);
}

TEST_P(CopierTest, a_legacy_object_rewritten_after_listing_is_copied_with_its_new_content) {
  s3_.put(kLegacy, "image/a.png", "old");
  auto listed_before = listed(kLegacy, "image/a.png");
  s3_.put(kLegacy, "image/a.png", "new");  // Rewritten between listing and copy.
  // radosgw ignores x-amz-copy-source-if-match: the copy takes the new content, and the
  // Copier must notice the ETag changed and describe the object by what it copied.
  s3_.dialect.honours_copy_source_if_match = false;
  Copier copier(s3_, s3_, config_, server_side());
  auto out =
      wait([&](Copier::Done done) { copier.settle(listed_before, std::nullopt, std::move(done)); });
  EXPECT_EQ(out.kind, Kind::kCopied);
  EXPECT_EQ(out.record.etag, to_hex(md5("new")));
  EXPECT_EQ(production_body("avatar/a.png"), "new");
}

TEST_P(CopierTest, a_server_answering_412_forever_is_bounded_too) {
  // A write refused with 412 while no twin exists and the source is unchanged: a broken or
  // odd server. Each refusal costs a round; the Copier must end, not loop.
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.fail(server_side() ? Op::kCopy : Op::kPut, "avatar/a.png",
           fakes::precondition_failed("avatar/a.png"), 1000);
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_LE(s3_.calls(server_side() ? Op::kCopy : Op::kPut), 3u);
}

TEST_P(CopierTest, a_key_outside_the_legacy_prefix_fails_without_a_request) {
  auto out = settle_key("elsewhere/a.png");
  EXPECT_EQ(out.kind, Kind::kFailed);
  EXPECT_EQ(out.record.detail, "key is not under the legacy prefix");
  EXPECT_EQ(s3_.calls(Op::kHead), 0u);
}

TEST_P(CopierTest, settle_key_looks_both_sides_up) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.put(kProduction, "avatar/a.png", "AAAA");
  auto out = settle_key("image/a.png");
  EXPECT_EQ(out.kind, Kind::kAlreadyCopied);
  EXPECT_EQ(s3_.calls(Op::kHead), 2u);
}

INSTANTIATE_TEST_SUITE_P(Modes, CopierTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "server_side" : "streamed";
                         });

TEST(CopierStreamed, an_object_above_the_streaming_limit_fails_with_what_to_do) {
  JobConfig config;
  config.max_streamed_object = 3;
  FakeS3 s3;
  s3.put("legacy-s3", "image/big.png", "AAAA");
  Copier copier(s3, s3, config, /*server_side=*/false);
  std::optional<CopyOutcome> out;
  s3::ObjectInfo listed;
  listed.key = "image/big.png";
  listed.etag = to_hex(md5("AAAA"));
  listed.size = 4;
  copier.settle(listed, std::nullopt, [&](CopyOutcome o) { out = std::move(o); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::kFailed);
  EXPECT_NE(out->record.detail.find("--max-streamed-object"), std::string::npos);
  EXPECT_EQ(s3.calls(Op::kGet), 0u);
}

// A multipart legacy object (its ETag is not an MD5 of the content) settled as listed.
constexpr const char* kMultipartEtag = "0123456789abcdef0123456789abcdef-2";

CopyOutcome settle_multipart(FakeS3& s3, bool server_side) {
  JobConfig config;
  s3.put("legacy-s3", "image/mp.png", "PARTS", kMultipartEtag);
  Copier copier(s3, s3, config, server_side);
  std::optional<CopyOutcome> out;
  s3::ObjectInfo listed{"image/mp.png", kMultipartEtag, 5, "", ""};
  copier.settle(listed, std::nullopt, [&](CopyOutcome o) { out = std::move(o); });
  if (!out) throw std::runtime_error("no outcome");
  return *out;
}

TEST(CopierStreamed, a_multipart_legacy_object_is_verified_by_its_content_digest) {
  FakeS3 s3;
  auto out = settle_multipart(s3, /*server_side=*/false);
  EXPECT_EQ(out.kind, Kind::kCopied);
  EXPECT_EQ(out.record.etag, kMultipartEtag);
}

TEST(CopierServerSide, a_legacy_object_that_keeps_changing_fails_after_bounded_attempts) {
  // radosgw copies whatever the source holds (it ignores x-amz-copy-source-if-match); here the
  // legacy object is rewritten before every copy and every look, so no copy is ever verified.
  JobConfig config;
  FakeS3 s3;
  s3.dialect.honours_copy_source_if_match = false;
  s3.put("legacy-s3", "image/a.png", "v0");
  int version = 0;
  auto rewrite = [&](const std::string&) {
    s3.put("legacy-s3", "image/a.png", "v" + std::to_string(++version));
  };
  s3.before(Op::kCopy, rewrite);
  s3.before(Op::kHead, rewrite);
  Copier copier(s3, s3, config, /*server_side=*/true);
  std::optional<CopyOutcome> out;
  copier.settle_key("image/a.png", [&](CopyOutcome o) { out = std::move(o); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::kFailed);
  EXPECT_NE(out->record.detail.find("no identical copy after 3 attempts"), std::string::npos)
      << out->record.detail;
  EXPECT_EQ(s3.calls(Op::kCopy), 3u);
}

TEST(CopierServerSide, after_a_412_a_new_copy_sends_if_none_match_again) {
  // Round 1 copies a legacy object that changes under it (radosgw ignores the source
  // condition), so round 2 may replace rehome's own copy and drops If-None-Match. Round 2 is
  // refused with 412 and rehome's copy is gone: whatever production holds from now on may be
  // the app's, so the next copy must be conditional again.
  JobConfig config;
  FakeS3 s3;
  s3.dialect.honours_copy_source_if_match = false;
  s3.put("legacy-s3", "image/a.png", "v0");
  const s3::ObjectInfo listed{"image/a.png", to_hex(md5("v0")), 2, "", ""};
  int copies = 0, heads = 0;
  s3.before(Op::kCopy, [&](const std::string& key) {
    if (++copies == 1) s3.put("legacy-s3", "image/a.png", "v1");
    if (copies == 2) {
      s3.remove("production-s3", key);
      s3.fail(Op::kCopy, key, fakes::precondition_failed(key));
    }
  });
  s3.before(Op::kHead, [&](const std::string& key) {
    if (key == "image/a.png" && ++heads == 1) s3.put("legacy-s3", "image/a.png", "v2");
  });
  Copier copier(s3, s3, config, /*server_side=*/true);
  std::optional<CopyOutcome> out;
  copier.settle(listed, std::nullopt, [&](CopyOutcome o) { out = std::move(o); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::kCopied);
  ASSERT_EQ(s3.copies.size(), 3u);
  EXPECT_TRUE(s3.copies[0].if_none_match);
  EXPECT_FALSE(s3.copies[1].if_none_match) << "round 2 replaces rehome's own copy";
  EXPECT_TRUE(s3.copies[2].if_none_match) << "after the 412 the copy is conditional again";
  EXPECT_EQ(s3.object("production-s3", "avatar/a.png")->body, "v2");
}

TEST(CopierServerSide, a_multipart_copy_with_a_new_etag_is_verified_by_size) {
  FakeS3 s3;
  s3.copy_etag = [](const FakeS3::Object& source) { return to_hex(md5(source.body)); };
  EXPECT_EQ(settle_multipart(s3, /*server_side=*/true).kind, Kind::kCopied);
}

TEST(CopierOnTheLoop, outcomes_arrive_from_the_loop_when_answers_do) {
  http::Loop loop;
  JobConfig config;
  FakeS3 s3(&loop);
  for (int i = 0; i < 50; ++i) s3.put("legacy-s3", "image/" + std::to_string(i), "x");
  Copier copier(s3, s3, config, /*server_side=*/true);
  int settled = 0;
  for (int i = 0; i < 50; ++i) {
    copier.settle_key("image/" + std::to_string(i), [&](CopyOutcome o) {
      EXPECT_EQ(o.kind, Kind::kCopied);
      ++settled;
    });
  }
  EXPECT_EQ(settled, 0) << "no answer before the loop runs";
  loop.run();
  EXPECT_EQ(settled, 50);
}

}  // namespace
}  // namespace rehome::engine
