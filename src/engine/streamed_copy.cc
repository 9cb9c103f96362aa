#include "engine/streamed_copy.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engine/copier.h"
#include "s3/xml.h"
#include "util/crypto.h"
#include "util/failpoint.h"

namespace rehome::engine {

namespace {

constexpr std::int64_t kMaxParts = 10'000;  // S3's limit per multipart upload.

}  // namespace

struct StreamedCopy::Job {
  StreamedWrite write;
  std::function<void(Result<StreamedResult>)> done;
  s3::ObjectInfo source;  // Described once read or HEADed.
  std::string tagging;    // x-amz-tagging form, fetched when the source has tags.
  std::string upload_id;
  std::int64_t ledger_entry = 0;  // 0: not recorded.
  std::vector<std::string> part_etags;
  std::int64_t offset = 0;  // Next byte to read, in a multipart copy.
};

std::int64_t StreamedCopy::part_size(std::int64_t bytes, std::int64_t wanted) {
  constexpr std::int64_t kMiB = 1024 * 1024;
  const std::int64_t needed = (bytes + kMaxParts - 1) / kMaxParts;
  return std::max(wanted, (needed + kMiB - 1) / kMiB * kMiB);
}

void StreamedCopy::copy(StreamedWrite write, std::function<void(Result<StreamedResult>)> done) {
  auto job = std::make_shared<Job>();
  job->source = write.source;
  job->write = std::move(write);
  job->done = std::move(done);
  const bool whole = !job->write.server_side_parts && job->source.size <= job->write.whole_limit;
  if (whole) return copy_whole(job);
  // A multipart copy names the source's headers before its first byte: describe it first.
  source_.head_object(
      job->write.source_bucket, job->source.key, [this, job](Result<s3::ObjectInfo> head) {
        if (!head) return job->done(std::move(head).error());
        job->source = std::move(head.value());
        if (job->write.server_side_parts && job->source.size == 0) {
          // Emptied since it was listed: nothing to copy by parts; the
          // caller looks again and copies it whole.
          return job->done(Error::of(
              ErrorKind::kPreconditionFailed,
              fmt::format("s3://{}/{} is empty now", job->write.source_bucket, job->source.key)));
        }
        if (!job->write.server_side_parts && job->source.size <= job->write.whole_limit) {
          return copy_whole(job);
        }
        with_tags(job, [this, job] { start_upload(job); });
      });
}

// One GET, one PUT: the body is held once, within the budget, until the PUT has it.
void StreamedCopy::copy_whole(std::shared_ptr<Job> job) {
  const std::int64_t reserved = std::max<std::int64_t>(job->source.size, 1);
  budget_.acquire(reserved, [this, job, reserved] {
    s3::GetRequest get;
    get.bucket = job->write.source_bucket;
    get.key = job->source.key;
    // The version whose size was budgeted, or 412 (the Copier then looks again): an object
    // that grew since it was listed is never held whole beyond the budget.
    get.if_match = job->source.etag;
    get.timeout = transfer_timeout(job->source.size);
    source_.get_object(std::move(get), [this, job, reserved](Result<s3::GetResult> got) {
      if (!got) {
        budget_.release(reserved);
        return job->done(std::move(got).error());
      }
      auto body = std::make_shared<std::string>(std::move(got.value().body));
      job->source = std::move(got.value().info);  // What was read is what is copied.
      job->source.size = static_cast<std::int64_t>(body->size());
      with_tags(
          job,
          [this, job, body, reserved] {
            s3::PutRequest put = headers_for(*job);
            put.bucket = job->write.bucket;
            put.key = job->write.key;
            put.content_md5_base64 = base64_encode(md5(*body));
            put.if_none_match = job->write.if_none_match;
            put.if_match = job->write.if_match;
            put.timeout = transfer_timeout(job->source.size);
            put.body = std::move(*body);
            destination_.put_object(std::move(put),
                                    [this, job, reserved](Result<s3::ObjectInfo> r) {
                                      budget_.release(reserved);
                                      if (!r) return job->done(std::move(r).error());
                                      StreamedResult result;
                                      result.source = job->source;
                                      result.written = std::move(r.value());
                                      result.written.size = job->source.size;
                                      result.bytes = job->source.size;
                                      job->done(std::move(result));
                                    });
          },
          reserved);
    });
  });
}

// Tags are not in a GET's headers (only their count is): a source that has some is asked for
// them, so the copy carries them as CopyObject would.
void StreamedCopy::with_tags(std::shared_ptr<Job> job, std::function<void()> next,
                             std::int64_t held) {
  if (job->source.tag_count <= 0) return next();
  source_.get_object_tagging(job->write.source_bucket, job->source.key,
                             [this, job, held, next = std::move(next)](Result<std::string> tags) {
                               if (!tags) {
                                 if (held > 0) budget_.release(held);
                                 Error error = std::move(tags).error();
                                 error.message +=
                                     " (reading the tags to carry them over: "
                                     "rehome needs s3:GetObjectTagging)";
                                 return job->done(std::move(error));
                               }
                               job->tagging = std::move(tags.value());
                               next();
                             });
}

s3::PutRequest StreamedCopy::headers_for(const Job& job) const {
  s3::PutRequest put;
  put.content_type = job.source.content_type;
  put.metadata = job.source.metadata;
  if (job.write.mark && job.write.mark(job.source)) {
    put.metadata.emplace_back(s3::kCopiedFromHeader, job.source.etag);
  }
  put.tagging = job.tagging;
  put.acl = job.write.acl;
  put.storage_class = job.write.storage_class;
  return put;
}

// The upload is written in the ledger before it exists (so that a kill right after its creation
// leaves a trace) and its id before its first part (so that the next run can abort it).
void StreamedCopy::start_upload(std::shared_ptr<Job> job) {
  if (ledger_ != nullptr) {
    auto entry = ledger_->upload_opening(job->write.bucket, job->write.key);
    if (!entry) return job->done(std::move(entry).error().context("recording a multipart upload"));
    job->ledger_entry = entry.value();
  }
  s3::PutRequest create = headers_for(*job);
  create.bucket = job->write.bucket;
  create.key = job->write.key;
  destination_.create_multipart_upload(std::move(create), [this, job](Result<std::string> id) {
    if (!id) {
      if (job->ledger_entry != 0) (void)ledger_->upload_closed(job->ledger_entry);
      return job->done(std::move(id).error());
    }
    job->upload_id = std::move(id.value());
    if (job->ledger_entry != 0) {
      if (auto st = ledger_->upload_opened(job->ledger_entry, job->upload_id); !st) {
        return abort(job, st.error().context("recording multipart upload " + job->upload_id));
      }
    }
    failpoint("multipart-upload-recorded");
    next_part(job);
  });
}

// One part at a time per object (copies of other objects run meanwhile): read its range, on
// the condition that the source is still the version described, then upload it; or have the
// server copy the range.
void StreamedCopy::next_part(std::shared_ptr<Job> job) {
  if (job->offset >= job->source.size) return complete(job);
  const std::int64_t length =
      std::min(part_size(job->source.size, job->write.part_bytes), job->source.size - job->offset);
  if (job->write.server_side_parts) return copy_part(job, length);
  budget_.acquire(length, [this, job, length] {
    s3::GetRequest get;
    get.bucket = job->write.source_bucket;
    get.key = job->source.key;
    get.range_first = job->offset;
    get.range_last = job->offset + length - 1;
    get.if_match = job->source.etag;
    get.timeout = transfer_timeout(length);
    // The part is gathered here, never past its length: a server that ignored the Range header
    // and sent the whole object would otherwise be held whole.
    auto part_body = std::make_shared<std::string>();
    auto overflow = std::make_shared<bool>(false);
    part_body->reserve(static_cast<std::size_t>(length));
    get.body_sink = [part_body, overflow, length](std::string_view chunk) {
      *overflow = static_cast<std::int64_t>(part_body->size() + chunk.size()) > length;
      if (!*overflow) part_body->append(chunk);
      return !*overflow;
    };
    get.on_restart = [part_body] { part_body->clear(); };
    source_.get_object(std::move(get), [this, job, length, part_body,
                                        overflow](Result<s3::GetResult> got) {
      const std::string range = fmt::format("GET s3://{}/{} bytes {}-{}", job->write.source_bucket,
                                            job->source.key, job->offset, job->offset + length - 1);
      if (!got) {
        budget_.release(length);
        if (!*overflow) return abort(job, std::move(got).error());
        return abort(job,
                     Error::permanent(range + ": the server sent more than the range (it "
                                              "ignores Range): cannot stream from it in parts"));
      }
      if (static_cast<std::int64_t>(part_body->size()) != length) {
        budget_.release(length);
        return abort(job, Error::transient(fmt::format("{}: {} bytes came back instead of {}",
                                                       range, part_body->size(), length)));
      }
      s3::UploadPartRequest part;
      part.bucket = job->write.bucket;
      part.key = job->write.key;
      part.upload_id = job->upload_id;
      part.part_number = static_cast<int>(job->part_etags.size()) + 1;
      part.body = std::move(*part_body);
      part.timeout = transfer_timeout(length);
      destination_.upload_part(std::move(part), [this, job, length](Result<std::string> etag) {
        budget_.release(length);
        part_done(job, length, std::move(etag));
      });
    });
  });
}

void StreamedCopy::copy_part(std::shared_ptr<Job> job, std::int64_t length) {
  s3::UploadPartCopyRequest part;
  part.bucket = job->write.bucket;
  part.key = job->write.key;
  part.upload_id = job->upload_id;
  part.part_number = static_cast<int>(job->part_etags.size()) + 1;
  part.source_bucket = job->write.source_bucket;
  part.source_key = job->source.key;
  part.range_first = job->offset;
  part.range_last = job->offset + length - 1;
  // Every part from the version described (radosgw ignores the condition: the copy is
  // verified by size and, where stored, checksum, as every copy is).
  part.source_if_match = job->source.etag;
  part.timeout = transfer_timeout(length);
  destination_.upload_part_copy(std::move(part), [this, job, length](Result<std::string> etag) {
    part_done(job, length, std::move(etag));
  });
}

void StreamedCopy::part_done(std::shared_ptr<Job> job, std::int64_t length,
                             Result<std::string> etag) {
  if (!etag) {
    Error error = std::move(etag).error();
    // A range past the source's end: it shrank since it was described (on a server that
    // ignores the copy condition). The caller looks again, as for a 412.
    if (error.http_status == 416 || error.code == "InvalidRange")
      error.kind = ErrorKind::kPreconditionFailed;
    return abort(job, std::move(error));
  }
  job->part_etags.push_back(std::move(etag.value()));
  job->offset += length;
  next_part(job);
}

namespace {

// The ETag S3 gives a multipart upload: the MD5 of the parts' MD5s, then "-" and their count.
// Known only when every part's ETag is its MD5 (not under SSE-KMS); empty otherwise.
std::string multipart_etag(const std::vector<std::string>& part_etags) {
  std::string digests;
  for (const auto& etag : part_etags) {
    if (etag.size() != 32 || etag.find_first_not_of("0123456789abcdef") != std::string::npos)
      return {};
    digests += from_hex(etag);
  }
  return to_hex(md5(digests)) + "-" + std::to_string(part_etags.size());
}

}  // namespace

// The write's condition is checked by a HEAD right before the completion, besides being sent
// with it: radosgw does not honour conditions on CompleteMultipartUpload, and an upload can
// take minutes, during which the application may write the key. The window is then one
// request, as for a CopyObject.
void StreamedCopy::complete(std::shared_ptr<Job> job) {
  destination_.head_object(
      job->write.bucket, job->write.key, [this, job](Result<s3::ObjectInfo> twin) {
        const std::string uri = fmt::format("s3://{}/{}", job->write.bucket, job->write.key);
        if (twin && job->write.if_none_match) {
          return abort(job, Error::of(ErrorKind::kPreconditionFailed,
                                      uri + " was written by another while rehome copied to it"));
        }
        if (!twin && twin.error().kind != ErrorKind::kNotFound) {
          return abort(job, std::move(twin).error());
        }
        if (!job->write.if_match.empty() &&
            (!twin || s3::normalize_etag(twin->etag) != s3::normalize_etag(job->write.if_match))) {
          return abort(job, Error::of(ErrorKind::kPreconditionFailed,
                                      uri + " changed while rehome replaced its own copy"));
        }
        send_complete(job);
      });
}

void StreamedCopy::send_complete(std::shared_ptr<Job> job) {
  s3::CompleteRequest request;
  request.bucket = job->write.bucket;
  request.key = job->write.key;
  request.upload_id = job->upload_id;
  request.part_etags = job->part_etags;
  request.if_none_match = job->write.if_none_match;
  request.if_match = job->write.if_match;
  request.timeout = transfer_timeout(job->source.size);
  destination_.complete_multipart_upload(std::move(request), [this, job](Result<std::string> etag) {
    if (!etag) {
      Error error = std::move(etag).error();
      const bool refused = error.kind == ErrorKind::kPreconditionFailed ||
                           error.kind == ErrorKind::kConflict || error.kind == ErrorKind::kNotFound;
      if (refused) return abort(job, std::move(error));
      // No answer, or a server fault: the upload may have completed all the same. Look before
      // aborting, or a completed copy would be reported failed (and aborted after the fact).
      return destination_.head_object(
          job->write.bucket, job->write.key,
          [this, job, error = std::move(error)](Result<s3::ObjectInfo> twin) mutable {
            const bool ours = twin && twin->size == job->source.size &&
                              twin->copied_from_etag == job->source.etag &&
                              !job->source.etag.empty();
            if (!ours) return abort(job, std::move(error));
            completed(job, twin->etag);
          });
    }
    // radosgw 16 answers <ETag></ETag>: the ETag is then computed from the parts, so that
    // rehome knows its own copy later (never a HEAD's, which could be the application's).
    std::string written = std::move(etag.value());
    if (written.empty()) written = multipart_etag(job->part_etags);
    completed(job, std::move(written));
  });
}

void StreamedCopy::completed(std::shared_ptr<Job> job, std::string etag) {
  // Complete: nothing left to abort. (An entry left by a failure here is closed by the next
  // run, whose abort then finds no such upload.)
  if (job->ledger_entry != 0) (void)ledger_->upload_closed(job->ledger_entry);
  StreamedResult result;
  result.source = job->source;
  result.written.key = job->write.key;
  result.written.etag = std::move(etag);
  result.written.size = job->source.size;
  result.bytes = job->source.size;
  if (job->tagging.empty()) return job->done(std::move(result));
  // radosgw 16 ignores x-amz-tagging on CreateMultipartUpload: set the tags again (the
  // same tags, so on AWS this changes nothing).
  destination_.put_object_tagging(
      job->write.bucket, job->write.key, job->tagging,
      [job, result = std::move(result)](Result<Ok> tagged) mutable {
        if (!tagged) {
          Error error = std::move(tagged).error();
          error.message += " (setting the copy's tags: rehome needs s3:PutObjectTagging)";
          return job->done(std::move(error));
        }
        job->done(std::move(result));
      });
}

// The parts of an upload that will not complete cost storage until aborted: abort it (best
// effort: a bucket lifecycle rule for incomplete uploads is the backstop), then report.
// A failed abort keeps the ledger's entry: the next run tries again.
void StreamedCopy::abort(std::shared_ptr<Job> job, Error error) {
  destination_.abort_multipart_upload(
      job->write.bucket, job->write.key, job->upload_id,
      [this, job, error = std::move(error)](Result<Ok> aborted) mutable {
        // The client answers NoSuchUpload (aborted or completed already) as done.
        if (aborted && job->ledger_entry != 0) (void)ledger_->upload_closed(job->ledger_entry);
        job->done(std::move(error));
      });
}

}  // namespace rehome::engine
