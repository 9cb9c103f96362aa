// Streamed copies in bounded memory (issue 16, section 6), on the in-tree fake S3.
#include "engine/streamed_copy.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "fake_job_state.h"
#include "fake_s3.h"
#include "util/crypto.h"

namespace rehome::engine {
namespace {

using fakes::FakeS3;
using Op = FakeS3::Op;

constexpr std::int64_t kMiB = 1024 * 1024;

std::string bytes_of(std::int64_t size, char seed) {
  std::string body(static_cast<std::size_t>(size), '\0');
  for (std::size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<char>(static_cast<std::size_t>(seed) + i % 251);
  return body;
}

class StreamedCopyTest : public ::testing::Test {
 protected:
  StreamedWrite write_of(const std::string& key) {
    StreamedWrite w;
    w.source_bucket = "legacy";
    w.source.key = key;
    w.source.size = static_cast<std::int64_t>(s3_.object("legacy", key)->body.size());
    w.source.etag = s3_.object("legacy", key)->etag;
    w.bucket = "production";
    w.key = "copy/" + key;
    w.if_none_match = true;
    w.mark = [](const s3::ObjectInfo&) { return true; };
    return w;
  }
  Result<StreamedResult> copy(StreamedWrite write) {
    std::optional<Result<StreamedResult>> out;
    StreamedCopy streamer(s3_, s3_, budget_, &ledger_);
    streamer.copy(std::move(write), [&](Result<StreamedResult> r) { out.emplace(std::move(r)); });
    if (!out) throw std::runtime_error("no result");
    return std::move(*out);
  }

  FakeS3 s3_;
  ByteBudget budget_{kStreamBudgetBytes};
  fakes::FakeJobState ledger_;
};

TEST_F(StreamedCopyTest, a_large_object_goes_in_parts_never_held_whole) {
  const std::string body = bytes_of(20 * kMiB + 5, 'a');
  s3_.put("legacy", "big", body);
  auto r = copy(write_of("big"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(s3_.object("production", "copy/big")->body, body);
  EXPECT_EQ(s3_.calls(Op::kUploadPart), 3u);
  EXPECT_LE(s3_.largest_body(), static_cast<std::size_t>(kStreamPartBytes));
  EXPECT_EQ(r.value().bytes, 20 * kMiB + 5);
  EXPECT_EQ(budget_.in_use(), 0);
  EXPECT_EQ(s3_.open_uploads(), 0u);
}

TEST_F(StreamedCopyTest, the_copy_carries_content_headers_metadata_tags_and_the_mark) {
  s3_.multipart_drops_tagging = true;  // As radosgw 16 does: the tags must still arrive.
  for (std::int64_t size : {std::int64_t{10}, 9 * kMiB}) {
    const std::string key = "k" + std::to_string(size);
    s3_.put("legacy", key, bytes_of(size, 'x'));
    s3_.set_headers("legacy", key, "image/webp",
                    {{"cache-control", "max-age=60"}, {"x-amz-meta-owner", "42"}});
    auto legacy = *s3_.object("legacy", key);
    s3_.remove("legacy", key);
    legacy.tagging = "team=web&tier=hot";
    // Stored with tags, as an application would have uploaded it.
    s3::PutRequest seed;
    seed.bucket = "legacy";
    seed.key = key;
    seed.body = legacy.body;
    seed.content_type = legacy.content_type;
    seed.metadata = legacy.metadata;
    seed.tagging = legacy.tagging;
    s3_.put_object(seed, [](Result<s3::ObjectInfo>) {});
    auto w = write_of(key);
    w.acl = "public-read";
    w.storage_class = "STANDARD_IA";
    ASSERT_TRUE(copy(w)) << size;
    auto copy_of = *s3_.object("production", "copy/" + key);
    EXPECT_EQ(copy_of.content_type, "image/webp") << size;
    EXPECT_EQ(copy_of.tagging, "team=web&tier=hot") << size;
    EXPECT_EQ(copy_of.acl, "public-read");
    EXPECT_EQ(copy_of.storage_class, "STANDARD_IA");
    EXPECT_EQ(copy_of.metadata,
              (http::Headers{{"cache-control", "max-age=60"},
                             {"x-amz-meta-owner", "42"},
                             {s3::kCopiedFromHeader, s3_.object("legacy", key)->etag}}))
        << size;
  }
}

TEST_F(StreamedCopyTest, a_source_rewritten_between_parts_aborts_the_upload_with_412) {
  s3_.put("legacy", "big", bytes_of(17 * kMiB, 'a'));
  int parts = 0;
  s3_.before(Op::kUploadPart, [&](const std::string&) {
    if (++parts == 1) s3_.put("legacy", "big", bytes_of(17 * kMiB, 'b'));
  });
  auto r = copy(write_of("big"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kPreconditionFailed);
  EXPECT_EQ(s3_.open_uploads(), 0u) << "an upload that will not complete is aborted";
  EXPECT_FALSE(s3_.object("production", "copy/big"));
  EXPECT_EQ(budget_.in_use(), 0);
}

TEST_F(StreamedCopyTest, a_failed_part_aborts_the_upload_and_reports_the_error) {
  s3_.put("legacy", "big", bytes_of(10 * kMiB, 'a'));
  s3_.fail(Op::kUploadPart, "copy/big", Error::transient("500 InternalError"));
  auto r = copy(write_of("big"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "500 InternalError");
  EXPECT_EQ(s3_.open_uploads(), 0u);
}

TEST_F(StreamedCopyTest, a_twin_that_appeared_meanwhile_refuses_the_completion) {
  s3_.put("legacy", "big", bytes_of(10 * kMiB, 'a'));
  s3_.before(Op::kComplete, [&](const std::string& key) { s3_.put("production", key, "app"); });
  auto r = copy(write_of("big"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kPreconditionFailed);
  EXPECT_EQ(s3_.object("production", "copy/big")->body, "app");
  EXPECT_EQ(s3_.open_uploads(), 0u);
}

TEST_F(StreamedCopyTest, tags_that_cannot_be_read_fail_the_copy_and_say_which_permission) {
  s3::PutRequest seed;
  seed.bucket = "legacy";
  seed.key = "t";
  seed.body = "tagged";
  seed.tagging = "a=b";
  s3_.put_object(seed, [](Result<s3::ObjectInfo>) {});
  s3_.fail(Op::kTagging, "t", fakes::access_denied("t"));
  auto r = copy(write_of("t"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("s3:GetObjectTagging"), std::string::npos);
  EXPECT_FALSE(s3_.object("production", "copy/t"));
  EXPECT_EQ(budget_.in_use(), 0) << "the bytes held for the body are given back";
}

TEST_F(StreamedCopyTest, many_large_copies_at_once_hold_no_more_than_the_budget) {
  http::Loop loop;
  FakeS3 s3(&loop);
  ByteBudget budget(20 * kMiB);
  StreamedCopy streamer(s3, s3, budget);
  int done = 0;
  for (int i = 0; i < 12; ++i) {
    const std::string key = "o" + std::to_string(i);
    s3.put("legacy", key, bytes_of(i % 2 == 0 ? 3 * kMiB : 18 * kMiB, static_cast<char>('a' + i)));
    StreamedWrite w;
    w.source_bucket = "legacy";
    w.source.key = key;
    w.source.size = static_cast<std::int64_t>(s3.object("legacy", key)->body.size());
    w.bucket = "production";
    w.key = key;
    streamer.copy(std::move(w), [&](Result<StreamedResult> r) {
      EXPECT_TRUE(r) << r.error().message;
      ++done;
    });
  }
  loop.run();
  EXPECT_EQ(done, 12);
  EXPECT_LE(budget.peak(), 20 * kMiB);
  EXPECT_GT(budget.peak(), 8 * kMiB) << "copies did run side by side";
  for (int i = 0; i < 12; ++i) {
    const std::string key = "o" + std::to_string(i);
    EXPECT_EQ(s3.object("production", key)->body, s3.object("legacy", key)->body);
  }
}

TEST_F(StreamedCopyTest, an_object_rewritten_since_it_was_listed_is_not_read_whole) {
  s3_.put("legacy", "small", "listed");
  auto w = write_of("small");
  s3_.put("legacy", "small", bytes_of(7 * kMiB, 'z'));  // Grew after the listing.
  auto r = copy(w);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kPreconditionFailed) << "the Copier looks again";
  EXPECT_EQ(budget_.in_use(), 0);
  EXPECT_FALSE(s3_.object("production", "copy/small"));
}

// Issue 18, section 5: beyond CopyObject's reach, the parts are copied server-side.
TEST_F(StreamedCopyTest, server_side_parts_copy_by_range_with_no_byte_through_rehome) {
  const std::string body = bytes_of(20 * kMiB, 'p');
  s3_.put("legacy", "huge", body);
  s3_.set_headers("legacy", "huge", "image/png", {{"x-amz-meta-owner", "7"}});
  StreamedWrite w = write_of("huge");
  w.server_side_parts = true;
  w.part_bytes = 8 * kMiB;
  auto r = copy(std::move(w));
  ASSERT_TRUE(r) << r.error().message;
  const auto copy = *s3_.object("production", "copy/huge");
  EXPECT_EQ(copy.body, body);
  EXPECT_EQ(copy.content_type, "image/png");
  EXPECT_EQ(copy.etag.substr(copy.etag.size() - 2), "-3") << "8 + 8 + 4 MiB";
  EXPECT_EQ(s3_.part_copies(), 3u);
  EXPECT_EQ(s3_.calls(Op::kGet), 0u);
  EXPECT_EQ(s3_.calls(Op::kUploadPart), 0u);
  EXPECT_EQ(s3_.largest_body(), 0u);
  EXPECT_EQ(budget_.in_use(), 0);
  EXPECT_TRUE(ledger_.uploads.empty()) << "a completed upload leaves no entry";
}

TEST_F(StreamedCopyTest, every_upload_is_recorded_before_its_first_part) {
  s3_.put("legacy", "big", bytes_of(12 * kMiB, 'r'));
  std::vector<std::string> recorded_at_first_part;
  s3_.before(Op::kUploadPartCopy, [&](const std::string&) {
    if (!recorded_at_first_part.empty()) return;
    for (const auto& [entry, upload] : ledger_.uploads) {
      recorded_at_first_part.push_back(upload.bucket + "/" + upload.key + " " + upload.upload_id);
    }
  });
  StreamedWrite w = write_of("big");
  w.server_side_parts = true;
  ASSERT_TRUE(copy(std::move(w)));
  ASSERT_EQ(recorded_at_first_part.size(), 1u);
  EXPECT_TRUE(recorded_at_first_part[0].starts_with("production/copy/big upload-"))
      << recorded_at_first_part[0];
}

TEST_F(StreamedCopyTest, a_failed_part_copy_aborts_and_closes_the_entry) {
  s3_.put("legacy", "big", bytes_of(12 * kMiB, 'f'));
  s3_.fail(Op::kUploadPartCopy, "copy/big", Error::transient("503 SlowDown"));
  StreamedWrite w = write_of("big");
  w.server_side_parts = true;
  auto r = copy(std::move(w));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "503 SlowDown");
  EXPECT_EQ(s3_.open_uploads(), 0u);
  EXPECT_TRUE(ledger_.uploads.empty());
}

TEST_F(StreamedCopyTest, an_abort_that_fails_keeps_the_entry_for_the_next_run) {
  s3_.put("legacy", "big", bytes_of(12 * kMiB, 'f'));
  s3_.fail(Op::kUploadPartCopy, "copy/big", Error::transient("503 SlowDown"));
  s3_.fail(Op::kAbort, "copy/big", Error::transient("connection reset"));
  StreamedWrite w = write_of("big");
  w.server_side_parts = true;
  ASSERT_FALSE(copy(std::move(w)));
  EXPECT_EQ(s3_.open_uploads(), 1u);
  ASSERT_EQ(ledger_.uploads.size(), 1u);
  EXPECT_FALSE(ledger_.uploads.begin()->second.upload_id.empty());
}

TEST_F(StreamedCopyTest, an_upload_id_that_cannot_be_recorded_is_aborted_before_any_part) {
  s3_.put("legacy", "big", bytes_of(12 * kMiB, 'd'));
  ledger_.upload_record_error = Error::transient("the database went away");
  StreamedWrite w = write_of("big");
  w.server_side_parts = true;
  auto r = copy(std::move(w));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the database went away"), std::string::npos);
  EXPECT_EQ(s3_.part_copies(), 0u);
  EXPECT_EQ(s3_.open_uploads(), 0u);
}

TEST_F(StreamedCopyTest, a_source_rewritten_between_part_copies_fails_with_412) {
  s3_.put("legacy", "big", bytes_of(17 * kMiB, 'a'));
  int parts = 0;
  s3_.before(Op::kUploadPartCopy, [&](const std::string&) {
    if (++parts == 2) s3_.put("legacy", "big", bytes_of(17 * kMiB, 'b'));
  });
  StreamedWrite w = write_of("big");
  w.server_side_parts = true;
  auto r = copy(std::move(w));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kPreconditionFailed);
  EXPECT_EQ(s3_.open_uploads(), 0u);
  EXPECT_FALSE(s3_.object("production", "copy/big"));
}

TEST_F(StreamedCopyTest, a_streamed_copy_takes_the_part_size_and_threshold_it_is_given) {
  const std::string body = bytes_of(12 * kMiB, 's');
  s3_.put("legacy", "mid", body);
  StreamedWrite w = write_of("mid");
  w.part_bytes = 5 * kMiB;
  w.whole_limit = 5 * kMiB;
  ASSERT_TRUE(copy(std::move(w)));
  EXPECT_EQ(s3_.calls(Op::kUploadPart), 3u) << "5 + 5 + 2 MiB";
  EXPECT_LE(s3_.largest_body(), static_cast<std::size_t>(5 * kMiB));
  EXPECT_EQ(s3_.object("production", "copy/mid")->body, body);
}

TEST(StreamedCopyParts, objects_past_ten_thousand_parts_get_larger_parts) {
  EXPECT_EQ(StreamedCopy::part_size(10 * kMiB, 5 * kMiB), 5 * kMiB);
  EXPECT_EQ(StreamedCopy::part_size(100'000 * kMiB, 5 * kMiB), 10 * kMiB);
  EXPECT_EQ(StreamedCopy::part_size(1), kStreamPartBytes);
  EXPECT_EQ(StreamedCopy::part_size(80'000 * kMiB), kStreamPartBytes);
  const std::int64_t five_tb = 5LL * 1024 * 1024 * kMiB;
  EXPECT_LE((five_tb + StreamedCopy::part_size(five_tb) - 1) / StreamedCopy::part_size(five_tb),
            10'000);
}

}  // namespace
}  // namespace rehome::engine
