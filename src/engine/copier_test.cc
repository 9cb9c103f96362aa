// The Copier's state machine against the in-tree fake S3: every path from "listed" to an
// outcome, with the answers real servers give (AWS honours conditional writes, radosgw does
// not), faults, and a legacy object that changes under the copy.
#include "engine/copier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
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
    Copier copier(s3_, s3_, config_, server_side(), lookup());
    auto legacy = listed(kLegacy, key);
    std::optional<s3::ObjectInfo> twin;
    auto production_key = "avatar/" + key.substr(6);
    if (s3_.object(kProduction, production_key)) twin = listed(kProduction, production_key);
    return wait([&](Copier::Done done) { copier.settle(legacy, twin, std::move(done)); });
  }

  CopyOutcome settle_key(const std::string& key) {
    Copier copier(s3_, s3_, config_, server_side(), lookup());
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

  // The copies "earlier runs" recorded, as JobState::recorded_copy would answer.
  RecordedCopies lookup() {
    return [this](const std::string& key) -> Result<std::optional<RecordedCopy>> {
      ++lookups_;
      auto it = recorded_.find(key);
      if (it == recorded_.end()) return std::optional<RecordedCopy>{};
      return std::optional<RecordedCopy>{it->second};
    };
  }
  // What the upsert keeps: the last copy rehome itself wrote.
  void remember(const CopyOutcome& out) {
    if (!out.record.rehome_wrote) return;
    recorded_[out.record.legacy_key] = RecordedCopy{out.record.etag, out.record.production_etag};
  }

  JobConfig config_;
  FakeS3 s3_;
  std::map<std::string, RecordedCopy> recorded_;
  int lookups_ = 0;
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

TEST_P(CopierTest,
       a_copy_an_earlier_run_recorded_is_refreshed_when_the_legacy_object_is_reuploaded) {
  // The application re-uploads image/a.png in place after rehome copied it: rows rewritten
  // to avatar/a.png would serve the older picture. The next settle (run --relist) replaces
  // rehome's own copy, and only it, with the newer content.
  for (const char* newer : {"BBBB", "a longer picture"}) {  // same size (HEAD both), or not
    SCOPED_TRACE(newer);
    s3_.put(kLegacy, "image/a.png", "AAAA");
    s3_.remove(kProduction, "avatar/a.png");
    auto first = settle_listed("image/a.png");
    ASSERT_EQ(first.kind, Kind::kCopied);
    remember(first);
    s3_.put(kLegacy, "image/a.png", newer);
    auto out = settle_listed("image/a.png");
    EXPECT_EQ(out.kind, Kind::kCopied) << out.record.detail;
    EXPECT_TRUE(out.refreshed);
    EXPECT_EQ(production_body("avatar/a.png"), newer);
    EXPECT_EQ(out.record.etag, to_hex(md5(newer)));
    remember(out);
    // Settled again: identical now, nothing written.
    const auto writes = s3_.calls(Op::kCopy) + s3_.calls(Op::kPut);
    EXPECT_EQ(settle_listed("image/a.png").kind, Kind::kAlreadyCopied);
    EXPECT_EQ(s3_.calls(Op::kCopy) + s3_.calls(Op::kPut), writes);
  }
}

TEST_P(CopierTest, a_twin_the_app_overwrote_after_rehomes_copy_is_never_replaced) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  auto first = settle_listed("image/a.png");
  ASSERT_EQ(first.kind, Kind::kCopied);
  remember(first);
  s3_.put(kLegacy, "image/a.png", "BBBB");
  s3_.put(kProduction, "avatar/a.png", "app's own upload");  // not rehome's copy any more
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kConflict);
  EXPECT_FALSE(out.refreshed);
  EXPECT_EQ(production_body("avatar/a.png"), "app's own upload");
}

TEST_P(CopierTest, a_twin_rehome_only_found_identical_is_never_its_own_to_replace) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.put(kProduction, "avatar/a.png", "AAAA");  // someone else's identical copy
  auto first = settle_listed("image/a.png");
  ASSERT_EQ(first.kind, Kind::kAlreadyCopied);
  EXPECT_FALSE(first.record.rehome_wrote);
  remember(first);
  s3_.put(kLegacy, "image/a.png", "BBBB");
  EXPECT_EQ(settle_listed("image/a.png").kind, Kind::kConflict);
  EXPECT_EQ(production_body("avatar/a.png"), "AAAA");
}

TEST_P(CopierTest, a_twin_nobody_recorded_as_rehomes_copy_is_never_replaced) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.put(kProduction, "avatar/a.png", "BBBB");
  recorded_["image/a.png"] = RecordedCopy{to_hex(md5("CCCC")), to_hex(md5("CCCC"))};
  EXPECT_EQ(settle_listed("image/a.png").kind, Kind::kConflict);
  EXPECT_EQ(production_body("avatar/a.png"), "BBBB");
}

TEST_P(CopierTest, the_app_writing_rehomes_copy_during_the_refresh_wins) {
  // AWS honours If-Match: the app's write just before rehome's refresh makes it fail with 412,
  // and the look that follows finds a twin that is no longer rehome's: a conflict.
  s3_.put(kLegacy, "image/a.png", "AAAA");
  auto first = settle_listed("image/a.png");
  ASSERT_EQ(first.kind, Kind::kCopied);
  remember(first);
  s3_.put(kLegacy, "image/a.png", "BBBB");
  s3_.before(server_side() ? Op::kCopy : Op::kPut, [&](const std::string& key) {
    if (key == "avatar/a.png") s3_.put(kProduction, key, "app upload");
  });
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kConflict) << out.record.detail;
  EXPECT_EQ(production_body("avatar/a.png"), "app upload");
}

TEST_P(CopierTest, an_identical_twin_never_asks_for_the_record) {
  s3_.put(kLegacy, "image/a.png", "AAAA");
  s3_.put(kProduction, "avatar/a.png", "AAAA");
  EXPECT_EQ(settle_listed("image/a.png").kind, Kind::kAlreadyCopied);
  EXPECT_EQ(lookups_, 0);
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

TEST_P(CopierTest, acl_and_storage_class_are_asked_for_on_every_write) {
  config_.acl = "public-read";
  config_.storage_class = "STANDARD_IA";
  s3_.put(kLegacy, "image/a.png", "AAAA");
  ASSERT_EQ(settle_listed("image/a.png").kind, Kind::kCopied);
  auto twin = s3_.object(kProduction, "avatar/a.png");
  ASSERT_TRUE(twin);
  EXPECT_EQ(twin->acl, "public-read");
  EXPECT_EQ(twin->storage_class, "STANDARD_IA");
}

TEST_P(CopierTest, a_bucket_with_acls_disabled_stops_the_job_and_says_to_drop_acl) {
  config_.acl = "public-read";
  s3_.put(kLegacy, "image/a.png", "AAAA");
  Error refused = Error::permanent("PUT s3://production-s3/avatar/a.png: 400 Bad Request");
  refused.code = "AccessControlListNotSupported";
  refused.http_status = 400;
  s3_.fail(server_side() ? Op::kCopy : Op::kPut, "avatar/a.png", refused);
  auto out = settle_listed("image/a.png");
  EXPECT_EQ(out.kind, Kind::kFailed);
  ASSERT_TRUE(out.fatal);
  EXPECT_NE(out.fatal->message.find("ACLs disabled"), std::string::npos) << out.fatal->message;
  EXPECT_NE(out.fatal->message.find("run without --acl"), std::string::npos);
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
  s3::ObjectInfo listed;
  listed.key = "image/mp.png";
  listed.etag = kMultipartEtag;
  listed.size = 5;
  copier.settle(listed, std::nullopt, [&](CopyOutcome o) { out = std::move(o); });
  if (!out) throw std::runtime_error("no outcome");
  return *out;
}

TEST(CopierStreamed, a_multipart_legacy_object_is_copied_with_rehomes_mark) {
  FakeS3 s3;
  auto out = settle_multipart(s3, /*server_side=*/false);
  EXPECT_EQ(out.kind, Kind::kCopied);
  EXPECT_EQ(out.record.etag, kMultipartEtag);
  auto twin = s3.object("production-s3", "avatar/mp.png");
  ASSERT_TRUE(twin);
  EXPECT_EQ(twin->body, "PARTS");
  EXPECT_EQ(twin->metadata, (http::Headers{{s3::kCopiedFromHeader, kMultipartEtag}}));
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

TEST(CopierServerSide,
     a_recopy_replaces_only_rehomes_own_copy_and_after_a_412_sends_if_none_match) {
  // Round 1 copies a legacy object that changes under it (radosgw ignores the source
  // condition), so round 2 replaces rehome's own copy, guarded by If-Match on its ETag (never
  // without a condition). Round 2 is refused with 412 and rehome's copy is gone: whatever
  // production holds from now on may be the app's, so the next copy sends If-None-Match.
  JobConfig config;
  FakeS3 s3;
  s3.dialect.honours_copy_source_if_match = false;
  s3.put("legacy-s3", "image/a.png", "v0");
  s3::ObjectInfo listed;
  listed.key = "image/a.png";
  listed.etag = to_hex(md5("v0"));
  listed.size = 2;
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
  EXPECT_TRUE(s3.copies[0].if_match.empty());
  EXPECT_FALSE(s3.copies[1].if_none_match) << "round 2 replaces rehome's own copy";
  EXPECT_EQ(s3.copies[1].if_match, to_hex(md5("v1"))) << "...and only while it is rehome's";
  EXPECT_TRUE(s3.copies[2].if_none_match) << "after the 412 the copy is conditional again";
  EXPECT_EQ(s3.object("production-s3", "avatar/a.png")->body, "v2");
}

TEST(CopierServerSide, a_multipart_copy_with_a_new_etag_is_proven_by_rehomes_mark) {
  FakeS3 s3;
  s3.copy_etag = [](const FakeS3::Object& source) { return to_hex(md5(source.body)); };
  EXPECT_EQ(settle_multipart(s3, /*server_side=*/true).kind, Kind::kCopied);
  ASSERT_EQ(s3.copies.size(), 1u);
  ASSERT_TRUE(s3.copies[0].replace_metadata);
  EXPECT_TRUE(s3.copies[0].if_none_match);
}

// SSE-KMS and SSE-C (section 2 of issue 16): ETags that are not MD5s.
class CopierKms : public ::testing::TestWithParam<bool> {
 protected:
  CopyOutcome settle(Copier& copier, const std::string& key) {
    std::optional<CopyOutcome> out;
    auto legacy = s3_.object("legacy-s3", key);
    s3::ObjectInfo listed;
    listed.key = key;
    listed.etag = legacy ? legacy->etag : "";
    listed.size = legacy ? static_cast<std::int64_t>(legacy->body.size()) : 0;
    std::optional<s3::ObjectInfo> twin;
    const std::string twin_key = "avatar/" + key.substr(6);
    if (auto t = s3_.object("production-s3", twin_key)) {
      twin.emplace();
      twin->key = twin_key;
      twin->etag = t->etag;
      twin->size = static_cast<std::int64_t>(t->body.size());
    }
    copier.settle(listed, twin, [&](CopyOutcome o) { out = std::move(o); });
    if (!out) throw std::runtime_error("no outcome");
    return *out;
  }
  std::size_t writes() const { return s3_.calls(Op::kCopy) + s3_.calls(Op::kPut); }

  bool server_side() const { return GetParam(); }
  JobConfig config_;
  FakeS3 s3_;
};

TEST_P(CopierKms, a_copy_into_a_kms_bucket_is_written_once_not_three_times) {
  s3_.dialect.kms_buckets = {"production-s3"};
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("legacy-s3", "image/b.png", "BBBB");
  Copier copier(s3_, s3_, config_, server_side());
  auto out = settle(copier, "image/a.png");
  EXPECT_EQ(out.kind, Kind::kCopied) << out.record.detail;
  EXPECT_EQ(writes(), 1u);
  EXPECT_EQ(s3_.overwrites(), 0u);
  EXPECT_EQ(out.record.production_etag, s3_.object("production-s3", "avatar/a.png")->etag);
  // Having seen production re-encrypt, every later copy carries rehome's mark.
  EXPECT_EQ(settle(copier, "image/b.png").kind, Kind::kCopied);
  EXPECT_EQ(writes(), 2u);
  auto b = s3_.object("production-s3", "avatar/b.png");
  ASSERT_TRUE(b);
  EXPECT_NE(std::find(b->metadata.begin(), b->metadata.end(),
                      http::Header{s3::kCopiedFromHeader, to_hex(md5("BBBB"))}),
            b->metadata.end());
}

TEST_P(CopierKms, a_kms_legacy_object_is_copied_once_and_marked) {
  s3_.dialect.kms_buckets = {"legacy-s3", "production-s3"};
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("legacy-s3", "image/b.png", "BBBB");
  Copier copier(s3_, s3_, config_, server_side());
  EXPECT_EQ(settle(copier, "image/a.png").kind, Kind::kCopied);
  auto out = settle(copier, "image/b.png");
  EXPECT_EQ(out.kind, Kind::kCopied) << out.record.detail;
  EXPECT_EQ(writes(), 2u);
  EXPECT_EQ(s3_.overwrites(), 0u);
}

TEST_P(CopierKms, a_marked_kms_twin_from_an_earlier_run_is_already_copied) {
  s3_.dialect.kms_buckets = {"legacy-s3", "production-s3"};
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("legacy-s3", "image/b.png", "BBBB");
  {
    Copier first(s3_, s3_, config_, server_side());
    ASSERT_EQ(settle(first, "image/a.png").kind, Kind::kCopied);
    ASSERT_EQ(settle(first, "image/b.png").kind, Kind::kCopied);
  }
  // A rerun (killed before recording): a new process, nothing learnt, only the buckets.
  Copier rerun(s3_, s3_, config_, server_side());
  const std::size_t before = writes();
  EXPECT_EQ(settle(rerun, "image/b.png").kind, Kind::kAlreadyCopied);
  EXPECT_EQ(writes(), before) << "never written again";
}

TEST_P(CopierKms, an_unmarked_kms_twin_with_the_same_bytes_is_proven_by_reading_both) {
  // Written by someone else, or by a process killed before it learnt to mark: same size, no
  // checksum, no mark. Only the bytes can tell, and they are streamed through an MD5.
  s3_.dialect.kms_buckets = {"legacy-s3", "production-s3"};
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("production-s3", "avatar/a.png", "AAAA");
  Copier copier(s3_, s3_, config_, server_side());
  auto out = settle(copier, "image/a.png");
  EXPECT_EQ(out.kind, Kind::kAlreadyCopied) << out.record.detail;
  EXPECT_EQ(writes(), 0u);
  EXPECT_EQ(s3_.calls(Op::kGet), 2u);
}

TEST_P(CopierKms, an_unmarked_kms_twin_with_other_bytes_is_a_conflict_never_overwritten) {
  s3_.dialect.kms_buckets = {"legacy-s3", "production-s3"};
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("production-s3", "avatar/a.png", "BBBB");
  Copier copier(s3_, s3_, config_, server_side());
  auto out = settle(copier, "image/a.png");
  EXPECT_EQ(out.kind, Kind::kConflict);
  EXPECT_NE(out.record.detail.find("holds different content"), std::string::npos)
      << out.record.detail;
  EXPECT_EQ(writes(), 0u);
  EXPECT_EQ(s3_.object("production-s3", "avatar/a.png")->body, "BBBB");
}

TEST_P(CopierKms, an_unproven_twin_too_large_to_read_is_a_conflict_that_says_what_to_do) {
  s3_.dialect.kms_buckets = {"legacy-s3", "production-s3"};
  config_.max_streamed_object = 3;
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("production-s3", "avatar/a.png", "AAAA");
  Copier copier(s3_, s3_, config_, server_side());
  auto out = settle(copier, "image/a.png");
  EXPECT_EQ(out.kind, Kind::kConflict);
  EXPECT_NE(out.record.detail.find("no checksum to compare"), std::string::npos)
      << out.record.detail;
  EXPECT_EQ(s3_.calls(Op::kGet), 0u);
}

TEST_P(CopierKms, a_twin_changed_while_it_was_read_is_judged_again_not_guessed) {
  s3_.dialect.kms_buckets = {"legacy-s3", "production-s3"};
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("production-s3", "avatar/a.png", "AAAA");
  bool changed = false;
  s3_.before(Op::kGet, [&](const std::string& key) {
    if (key == "avatar/a.png" && !std::exchange(changed, true))
      s3_.put("production-s3", key, "CCCC");  // The app re-uploads between HEAD and GET.
  });
  Copier copier(s3_, s3_, config_, server_side());
  auto out = settle(copier, "image/a.png");
  EXPECT_EQ(out.kind, Kind::kConflict) << out.record.detail;
  EXPECT_EQ(s3_.object("production-s3", "avatar/a.png")->body, "CCCC");
  EXPECT_EQ(writes(), 0u);
}

TEST_P(CopierKms, a_copy_killed_before_it_was_recorded_is_recognised_by_the_rerun) {
  s3_.dialect.kms_buckets = {"production-s3"};
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  {
    Copier first(s3_, s3_, config_, server_side());
    ASSERT_EQ(settle(first, "image/a.png").kind, Kind::kCopied);  // Unmarked: first of its run.
  }
  Copier rerun(s3_, s3_, config_, server_side());
  EXPECT_EQ(settle(rerun, "image/a.png").kind, Kind::kAlreadyCopied);
  EXPECT_EQ(writes(), 1u);
}

TEST_P(CopierKms, full_object_checksums_prove_a_kms_twin_without_a_mark) {
  s3_.dialect.kms_buckets = {"legacy-s3", "production-s3"};
  s3_.dialect.stores_checksums = true;
  s3_.put("legacy-s3", "image/a.png", "AAAA");
  s3_.put("production-s3", "avatar/a.png", "AAAA");
  s3_.put("legacy-s3", "image/b.png", "BBBB");
  s3_.put("production-s3", "avatar/b.png", "bbbb");
  Copier copier(s3_, s3_, config_, server_side());
  EXPECT_EQ(settle(copier, "image/a.png").kind, Kind::kAlreadyCopied);
  EXPECT_EQ(settle(copier, "image/b.png").kind, Kind::kConflict);
  EXPECT_EQ(writes(), 0u);
}

TEST_P(CopierKms, the_app_overwriting_rehomes_copy_before_a_recopy_wins) {
  // rehome copies the legacy object; the look after the copy finds it changed, so rehome
  // would replace its own copy; but the app has written the production key meanwhile:
  // If-Match refuses the recopy and the app's object stays, reported as a conflict.
  s3_.dialect.kms_buckets = {"production-s3"};  // The copy's ETag proves nothing by itself.
  s3_.put("legacy-s3", "image/a.png", "v1");
  int writes_seen = 0;
  auto write_hook = [&](const std::string& key) {
    if (key == "avatar/a.png" && ++writes_seen == 2) s3_.put("production-s3", key, "app");
  };
  s3_.before(Op::kCopy, write_hook);
  s3_.before(Op::kPut, write_hook);
  bool changed = false;
  s3_.before(Op::kHead, [&](const std::string& key) {
    if (key == "image/a.png" && writes_seen == 1 && !std::exchange(changed, true))
      s3_.put("legacy-s3", key, "v2");
  });
  Copier copier(s3_, s3_, config_, server_side());
  auto out = settle(copier, "image/a.png");
  EXPECT_EQ(s3_.object("production-s3", "avatar/a.png")->body, "app");
  EXPECT_EQ(out.kind, Kind::kConflict) << to_string(out.kind) << ": " << out.record.detail;
  EXPECT_EQ(writes_seen, 2);
}

INSTANTIATE_TEST_SUITE_P(Modes, CopierKms, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "server_side" : "streamed";
                         });

TEST(CopierMultipart, a_twin_from_a_killed_run_is_recognised_by_rehomes_mark_not_a_conflict) {
  FakeS3 s3;
  s3.copy_etag = [](const FakeS3::Object& source) { return to_hex(md5(source.body)); };
  ASSERT_EQ(settle_multipart(s3, /*server_side=*/true).kind, Kind::kCopied);
  // The rerun sees both in listings: ETags differ, sizes agree; it must look closer.
  JobConfig config;
  Copier rerun(s3, s3, config, /*server_side=*/true);
  s3::ObjectInfo legacy, twin;
  legacy.key = "image/mp.png";
  legacy.etag = kMultipartEtag;
  legacy.size = twin.size = 5;
  twin.key = "avatar/mp.png";
  twin.etag = s3.object("production-s3", "avatar/mp.png")->etag;
  std::optional<CopyOutcome> out;
  rerun.settle(legacy, twin, [&](CopyOutcome o) { out = std::move(o); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::kAlreadyCopied) << out->record.detail;
  EXPECT_EQ(s3.copies.size(), 1u);
}

TEST_P(CopierKms, a_marked_copy_carries_the_legacy_objects_headers_and_the_mark) {
  s3_.put("legacy-s3", "image/mp.png", "PARTS", kMultipartEtag);
  s3_.set_headers("legacy-s3", "image/mp.png", "image/webp",
                  {{"cache-control", "max-age=60"}, {"x-amz-meta-owner", "42"}});
  s3_.copy_etag = [](const FakeS3::Object& source) { return to_hex(md5(source.body)); };
  Copier copier(s3_, s3_, config_, server_side());
  ASSERT_EQ(settle(copier, "image/mp.png").kind, Kind::kCopied);
  auto twin = s3_.object("production-s3", "avatar/mp.png");
  ASSERT_TRUE(twin);
  EXPECT_EQ(twin->content_type, "image/webp");
  EXPECT_EQ(twin->metadata, (http::Headers{{"cache-control", "max-age=60"},
                                           {"x-amz-meta-owner", "42"},
                                           {s3::kCopiedFromHeader, kMultipartEtag}}));
}

TEST(CopierStreamed, a_multipart_copy_whose_completion_names_no_etag_counts_as_copied) {
  JobConfig config;
  FakeS3 s3;
  s3.complete_without_etag = true;  // radosgw 16
  const std::string body(9 * 1024 * 1024, 'p');
  s3.put("legacy-s3", "image/big.png", body);
  Copier copier(s3, s3, config, /*server_side=*/false);
  s3::ObjectInfo listed;
  listed.key = "image/big.png";
  listed.etag = to_hex(md5(body));
  listed.size = static_cast<std::int64_t>(body.size());
  std::optional<CopyOutcome> out;
  copier.settle(listed, std::nullopt, [&](CopyOutcome o) { out = std::move(o); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->kind, Kind::kCopied) << out->record.detail;
  EXPECT_EQ(out->bytes_copied, static_cast<std::int64_t>(body.size()));
  EXPECT_EQ(s3.calls(Op::kUploadPart), 2u);
  EXPECT_EQ(s3.object("production-s3", "avatar/big.png")->body, body);
}

TEST(CopierTimeouts, a_transfer_may_take_longer_the_larger_the_object) {
  EXPECT_EQ(transfer_timeout(0), std::chrono::seconds(60));
  EXPECT_EQ(transfer_timeout(2048), std::chrono::seconds(60));
  EXPECT_GT(transfer_timeout(5LL << 30), std::chrono::minutes(10));
  EXPECT_LT(transfer_timeout(5LL << 30), std::chrono::minutes(12));
}

TEST(CopierTimeouts, a_copy_of_a_large_object_asks_for_a_longer_limit) {
  JobConfig config;
  FakeS3 s3;
  s3.put("legacy-s3", "image/a.png", "AAAA");
  Copier copier(s3, s3, config, /*server_side=*/true);
  s3::ObjectInfo listed;
  listed.key = "image/a.png";
  listed.etag = to_hex(md5("AAAA"));
  listed.size = 4LL << 30;  // As listed: the request is sized by what the listing says.
  copier.settle(listed, std::nullopt, [](CopyOutcome) {});
  ASSERT_EQ(s3.copies.size(), 1u);
  EXPECT_EQ(s3.copies[0].timeout, transfer_timeout(4LL << 30));
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
