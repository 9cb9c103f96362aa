// Copies one object between two S3 endpoints (or two sets of credentials) through this
// process, in bounded memory: a body no larger than a part is read whole and written with one
// PUT; a larger one is read part by part (ranged GETs conditioned on the ETag first seen, so
// every part comes from one version) and written as a multipart upload. Every body waits for
// its bytes in the shared ByteBudget, so the copies in flight together hold at most the
// budget, whatever the object sizes. The copy carries what a browser sees (Content-Type and
// the other content headers, x-amz-meta-*, tags) plus the ACL and storage class asked for.
//
// The same multipart upload also copies an object too large for CopyObject (over 5 GB, or
// over --multipart-threshold) within one endpoint: each part is then copied server-side
// (UploadPartCopy, conditioned on the source's ETag) and no byte passes through this process.
// Every upload is written in the UploadLedger before its first part, so that one a kill
// leaves behind is aborted by the next run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/byte_budget.h"
#include "engine/upload_ledger.h"
#include "s3/api.h"
#include "util/result.h"

namespace rehome::engine {

/// Bodies at most this large go in one PUT; larger ones in parts of this size (or larger,
/// for objects that would need more than S3's 10,000 parts).
inline constexpr std::int64_t kStreamPartBytes = 8LL * 1024 * 1024;
/// What all streamed copies together may hold in memory at once.
inline constexpr std::int64_t kStreamBudgetBytes = 128LL * 1024 * 1024;

struct StreamedWrite {
  std::string source_bucket;
  s3::ObjectInfo source;  ///< As known (a listing entry will do: the copy describes it afresh).
  std::string bucket;     ///< Destination.
  std::string key;
  bool if_none_match = false;  ///< A new object: never overwrite.
  std::string if_match;        ///< Replace only this object (rehome's own copy).
  /// Put rehome's mark (s3::kCopiedFromHeader) on the copy: decided from the source as read.
  std::function<bool(const s3::ObjectInfo& source)> mark;
  std::string acl;
  std::string storage_class;
  /// Bodies up to this size are read and written whole; larger ones go in parts.
  std::int64_t whole_limit = kStreamPartBytes;
  /// The part size (more when 10,000 parts would not hold the object).
  std::int64_t part_bytes = kStreamPartBytes;
  /// Copy the parts server-side (UploadPartCopy from source_bucket: one endpoint, one
  /// identity), whatever the size: for objects beyond CopyObject's reach.
  bool server_side_parts = false;
};

struct StreamedResult {
  s3::ObjectInfo source;   ///< The source as read (described): what the copy holds.
  s3::ObjectInfo written;  ///< The copy: its ETag (empty when the server did not say), size.
  std::int64_t bytes = 0;
};

class StreamedCopy {
 public:
  /// Both APIs, the budget and the ledger must outlive every copy. Without a ledger, uploads
  /// are not recorded (a kill then leaves them to a lifecycle rule).
  StreamedCopy(s3::Api& source, s3::Api& destination, ByteBudget& budget,
               UploadLedger* ledger = nullptr)
      : source_(source), destination_(destination), budget_(budget), ledger_(ledger) {}

  /// Copies; `done` gets the result, or the error that stopped it. kPreconditionFailed: the
  /// source changed between parts, or the destination's condition failed. A failed multipart
  /// upload is aborted before `done` runs.
  void copy(StreamedWrite write, std::function<void(Result<StreamedResult>)> done);

  /// The part size for an object of `bytes`: `wanted`, or more (whole MiB) so that 10,000
  /// parts hold it.
  static std::int64_t part_size(std::int64_t bytes, std::int64_t wanted = kStreamPartBytes);

 private:
  struct Job;
  void copy_whole(std::shared_ptr<Job> job);
  /// Reads the source's tags (when it has any), then runs `next`; on failure reports it, giving
  /// back `held` bytes of the budget first.
  void with_tags(std::shared_ptr<Job> job, std::function<void()> next, std::int64_t held = 0);
  void start_upload(std::shared_ptr<Job> job);
  void next_part(std::shared_ptr<Job> job);
  void copy_part(std::shared_ptr<Job> job, std::int64_t length);
  void part_done(std::shared_ptr<Job> job, std::int64_t length, Result<std::string> etag);
  void complete(std::shared_ptr<Job> job);
  void send_complete(std::shared_ptr<Job> job);
  void completed(std::shared_ptr<Job> job, std::string etag);
  void abort(std::shared_ptr<Job> job, Error error);
  s3::PutRequest headers_for(const Job& job) const;

  s3::Api& source_;
  s3::Api& destination_;
  ByteBudget& budget_;
  UploadLedger* ledger_;
};

}  // namespace rehome::engine
