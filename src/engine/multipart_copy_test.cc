// Objects above --multipart-threshold (issue 18, section 5), on the in-tree fake S3: the
// Copier copies them as multipart uploads (UploadPartCopy on one endpoint, UploadPart through
// this process otherwise), marks them (a multipart ETag proves nothing), verifies them by the
// identity rule, records each upload before its first part, and the next run aborts what a
// kill left open, and nothing else.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "engine/copier.h"
#include "engine/exit_status.h"
#include "engine/leftover_uploads.h"
#include "fake_job_state.h"
#include "fake_s3.h"
#include "http/loop.h"

namespace rehome::engine {
namespace {

using fakes::FakeS3;
using Kind = CopyOutcome::Kind;
using Op = FakeS3::Op;

constexpr std::int64_t kMiB = 1024 * 1024;
constexpr const char* kLegacy = "legacy-s3";
constexpr const char* kProduction = "production-s3";

std::string bytes_of(std::int64_t size, char seed) {
  std::string body(static_cast<std::size_t>(size), '\0');
  for (std::size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<char>(static_cast<std::size_t>(seed) + i % 241);
  return body;
}

class MultipartCopy : public ::testing::TestWithParam<bool> {
 protected:
  MultipartCopy() {
    config_.legacy.bucket = kLegacy;
    config_.production.bucket = kProduction;
    config_.multipart_threshold = 8 * kMiB;
    config_.multipart_chunksize = 5 * kMiB;
  }
  bool server_side() const { return GetParam(); }

  CopyOutcome settle(const std::string& key) {
    Copier copier(s3_, s3_, config_, server_side(), {}, &ledger_);
    auto o = s3_.object(kLegacy, key);
    s3::ObjectInfo listed;
    listed.key = key;
    listed.etag = o->etag;
    listed.size = static_cast<std::int64_t>(o->body.size());
    std::optional<CopyOutcome> out;
    copier.settle(listed, std::nullopt, [&](CopyOutcome r) { out = std::move(r); });
    if (!out) throw std::runtime_error("no outcome");
    return *out;
  }

  JobConfig config_;
  FakeS3 s3_;
  fakes::FakeJobState ledger_;
};

TEST_P(MultipartCopy, an_object_above_the_threshold_is_copied_in_parts_marked_and_verified) {
  const std::string body = bytes_of(20 * kMiB, 'm');
  s3_.put(kLegacy, "image/huge.png", body);
  auto out = settle("image/huge.png");
  ASSERT_EQ(out.kind, Kind::kCopied) << out.record.detail;
  auto copy = *s3_.object(kProduction, "avatar/huge.png");
  EXPECT_EQ(copy.body, body);
  EXPECT_EQ(copy.etag.substr(copy.etag.size() - 2), "-4") << "5 + 5 + 5 + 5 MiB";
  // The mark names the source's ETag: a rerun recognises the copy although its ETag differs.
  bool marked = false;
  for (const auto& [name, value] : copy.metadata)
    marked |= name == s3::kCopiedFromHeader && value == out.record.etag;
  EXPECT_TRUE(marked);
  EXPECT_EQ(out.bytes_copied, 20 * kMiB);
  EXPECT_EQ(s3_.calls(Op::kCopy), 0u);
  EXPECT_EQ(s3_.part_copies(), server_side() ? 4u : 0u);
  EXPECT_EQ(s3_.calls(Op::kUploadPart), server_side() ? 0u : 4u);
  EXPECT_TRUE(ledger_.uploads.empty());
  EXPECT_EQ(s3_.open_uploads(), 0u);

  // A rerun finds the twin identical: nothing copied twice.
  auto again = settle("image/huge.png");
  EXPECT_EQ(again.kind, Kind::kAlreadyCopied) << again.record.detail;
}

TEST_P(MultipartCopy, an_object_just_below_the_threshold_is_copied_whole_at_it_in_parts) {
  config_.multipart_threshold = 5 * kMiB;
  s3_.put(kLegacy, "image/below.png", bytes_of(5 * kMiB - 1, 'e'));
  auto out = settle("image/below.png");
  ASSERT_EQ(out.kind, Kind::kCopied) << out.record.detail;
  EXPECT_EQ(s3_.calls(Op::kCreateUpload), 0u);
  EXPECT_EQ(s3_.calls(server_side() ? Op::kCopy : Op::kPut), 1u);
  // At the threshold, as the AWS CLI: a multipart upload (of one part).
  s3_.put(kLegacy, "image/at.png", bytes_of(5 * kMiB, 'f'));
  out = settle("image/at.png");
  ASSERT_EQ(out.kind, Kind::kCopied) << out.record.detail;
  EXPECT_EQ(s3_.calls(Op::kCreateUpload), 1u);
}

TEST_P(MultipartCopy, the_application_writing_the_key_during_the_upload_wins) {
  // A server that ignores conditions on the completion, as radosgw: the HEAD right before it
  // is what keeps the application's object.
  s3_.dialect.honours_if_none_match = false;
  s3_.put(kLegacy, "image/huge.png", bytes_of(12 * kMiB, 'a'));
  int parts = 0;
  auto write_during_upload = [&](const std::string&) {
    if (++parts == 2) s3_.put(kProduction, "avatar/huge.png", "the application's");
  };
  s3_.before(Op::kUploadPart, write_during_upload);
  s3_.before(Op::kUploadPartCopy, write_during_upload);
  auto out = settle("image/huge.png");
  EXPECT_EQ(out.kind, Kind::kConflict) << out.record.detail;
  EXPECT_EQ(s3_.object(kProduction, "avatar/huge.png")->body, "the application's");
  EXPECT_EQ(s3_.open_uploads(), 0u);
  EXPECT_TRUE(ledger_.uploads.empty());
  EXPECT_EQ(s3_.overwrites(), 0u);
}

TEST_P(MultipartCopy, a_completion_whose_answer_is_lost_is_recognised_not_aborted) {
  s3_.put(kLegacy, "image/huge.png", bytes_of(12 * kMiB, 'c'));
  // The server completes the upload, but its answer never arrives.
  s3_.complete_answer_lost = true;
  auto out = settle("image/huge.png");
  EXPECT_EQ(out.kind, Kind::kCopied) << out.record.detail;
  EXPECT_TRUE(s3_.object(kProduction, "avatar/huge.png"));
  EXPECT_TRUE(ledger_.uploads.empty());
}

TEST_P(MultipartCopy, a_completion_without_an_etag_is_known_by_the_parts_etags) {
  s3_.complete_without_etag = true;  // radosgw 16
  s3_.put(kLegacy, "image/huge.png", bytes_of(12 * kMiB, 'd'));
  auto out = settle("image/huge.png");
  ASSERT_EQ(out.kind, Kind::kCopied) << out.record.detail;
  EXPECT_EQ(out.record.production_etag, s3_.object(kProduction, "avatar/huge.png")->etag);
  EXPECT_TRUE(out.record.rehome_wrote);
}

TEST_P(MultipartCopy, a_marked_twin_whose_size_differs_is_not_taken_for_the_copy) {
  s3_.put(kLegacy, "image/huge.png", bytes_of(12 * kMiB, 'x'));
  ASSERT_EQ(settle("image/huge.png").kind, Kind::kCopied);
  // Production's copy is truncated behind rehome's back, its mark and ETag kept: a rerun must
  // not take it for the legacy object.
  auto copy = *s3_.object(kProduction, "avatar/huge.png");
  s3_.remove(kProduction, "avatar/huge.png");
  s3_.put(kProduction, "avatar/huge.png", copy.body.substr(1), copy.etag);
  s3_.set_headers(kProduction, "avatar/huge.png", copy.content_type, copy.metadata);
  auto again = settle("image/huge.png");
  EXPECT_EQ(again.kind, Kind::kConflict) << again.record.detail;
}

INSTANTIATE_TEST_SUITE_P(ServerSideAndStreamed, MultipartCopy, ::testing::Bool(),
                         [](const auto& param_info) {
                           return param_info.param ? "server_side" : "streamed";
                         });

// The next run aborts the uploads the ledger names, and only those.
TEST(LeftoverUploads, those_a_kill_left_are_aborted_and_no_other) {
  http::Loop loop;
  FakeS3 s3(&loop);
  fakes::FakeJobState ledger;
  s3::PutRequest create;
  create.bucket = kProduction;
  create.key = "avatar/a.png";
  std::string ours, theirs;
  s3.create_multipart_upload(create, [&](Result<std::string> id) { ours = *id; });
  s3.create_multipart_upload(create, [&](Result<std::string> id) { theirs = *id; });
  loop.run();
  ASSERT_EQ(s3.open_uploads(), 2u);
  auto entry = ledger.upload_opening(kProduction, "avatar/a.png");
  ASSERT_TRUE(ledger.upload_opened(*entry, ours));
  // A run killed between its record and S3's answer: no id.
  ASSERT_TRUE(ledger.upload_opening(kProduction, "avatar/b.png"));
  // One that completed, although its entry stayed (the close failed): the client answers
  // NoSuchUpload as done, as the fake does.
  auto done = ledger.upload_opening(kProduction, "avatar/c.png");
  ASSERT_TRUE(ledger.upload_opened(*done, "upload-completed-long-ago"));

  // One an earlier run started at another endpoint: not aborted here.
  auto elsewhere = ledger.upload_opening(kProduction, "avatar/d.png");
  ASSERT_TRUE(ledger.upload_opened(*elsewhere, "upload-elsewhere"));
  ledger.uploads.at(*elsewhere).endpoint = "http://old-endpoint.example";

  Summary summary;
  auto left = abort_leftover_uploads(loop, s3, ledger.endpoint, ledger, summary);
  ASSERT_TRUE(left) << left.error().message;
  EXPECT_EQ(left->aborted, 2u);
  EXPECT_EQ(left->unnamed, 1u);
  EXPECT_EQ(left->failed, 1u);
  EXPECT_EQ(summary.uploads_failed, 1u);
  EXPECT_EQ(s3.open_uploads(), 1u) << "the application's upload to the same key is untouched";
  EXPECT_EQ(ledger.uploads.size(), 1u) << "the other endpoint's entry is kept";
  EXPECT_EQ(summary.uploads_aborted, 2u);
  ASSERT_EQ(summary.problems.size(), 2u);
  EXPECT_NE(summary.problems[0].find("s3://production-s3/avatar/b.png: a multipart upload a "
                                     "killed run may have started at"),
            std::string::npos)
      << summary.problems[0];
  EXPECT_NE(summary.problems[1].find("was started at http://old-endpoint.example, not at this "
                                     "run's endpoint http://s3.fake"),
            std::string::npos)
      << summary.problems[1];
  EXPECT_EQ(run_outcome(summary, false), Outcome::kIncomplete);
}

TEST(LeftoverUploads, one_that_cannot_be_aborted_now_is_kept_for_the_next_run) {
  http::Loop loop;
  FakeS3 s3(&loop);
  fakes::FakeJobState ledger;
  auto entry = ledger.upload_opening(kProduction, "avatar/a.png");
  ASSERT_TRUE(ledger.upload_opened(*entry, "upload-9"));
  s3.fail(Op::kAbort, "avatar/a.png", Error::transient("503 SlowDown"));
  Summary summary;
  auto left = abort_leftover_uploads(loop, s3, ledger.endpoint, ledger, summary);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->failed, 1u);
  EXPECT_EQ(ledger.uploads.size(), 1u);
  ASSERT_EQ(summary.problems.size(), 1u);
  EXPECT_NE(summary.problems[0].find("could not be aborted (503 SlowDown); its parts are billed "
                                     "until it is: the next run tries again"),
            std::string::npos)
      << summary.problems[0];
  EXPECT_EQ(run_outcome(summary, false), Outcome::kIncomplete) << "exit 3: it needs a human";
}

}  // namespace
}  // namespace rehome::engine
