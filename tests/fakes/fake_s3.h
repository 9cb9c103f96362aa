// An S3 server in memory, for the engine's unit tests (never for the integration suites, which
// run on radosgw and s3rver). Buckets hold objects in byte order; listings honour prefix,
// start-after, continuation and max-keys; writes honour If-None-Match and If-Match, and copies
// x-amz-copy-source-if-match, unless the dialect says otherwise (radosgw ignores them on
// CopyObject; it honours If-None-Match on PUT). Multipart uploads and tags are kept. Tests
// script what real servers do now and then: a fault on one call, a change to the world just
// before an operation, answers held back and released in another order.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "http/loop.h"
#include "s3/api.h"

namespace rehome::fakes {

class FakeS3 final : public s3::Api {
 public:
  enum class Op {
    kList,
    kHead,
    kGet,
    kPut,
    kCopy,
    kDelete,
    kCreateUpload,
    kUploadPart,
    kUploadPartCopy,
    kComplete,
    kAbort,
    kTagging,
    kPutTagging
  };

  struct Object {
    std::string body;
    std::string etag;  ///< Without quotes.
    std::string content_type;
    std::string encryption;  ///< "aws:kms" in a KMS bucket.
    std::optional<s3::Checksum> checksum;
    http::Headers metadata;  ///< x-amz-meta-*, Cache-Control... (rehome's mark included).
    std::string acl;
    std::string storage_class;
    std::string tagging;  ///< x-amz-tagging form.
  };

  /// What differs between servers.
  struct Dialect {
    bool honours_if_none_match = true;         ///< AWS yes; radosgw and s3rver no.
    bool honours_copy_source_if_match = true;  ///< AWS yes; radosgw ignores it on CopyObject.
    bool honours_if_match = true;              ///< AWS yes (2025); radosgw and s3rver no.
    /// Buckets whose default encryption is SSE-KMS: every object written there (put, PUT,
    /// copy) gets an ETag that is not its MD5, different on every write.
    std::vector<std::string> kms_buckets;
    /// Store a full-object checksum with every write, as AWS has since 2024-12: a copy carries
    /// its source's, or gets a CRC64NVME of its own when the source had none.
    bool stores_checksums = false;
  };

  /// With a loop, every answer arrives from a zero-delay timer on it, as a server's would;
  /// without one, the callback runs before the call returns (callers must cope with both).
  explicit FakeS3(http::Loop* loop = nullptr) : loop_(loop) {}

  /// Stores an object; its ETag is the body's MD5 unless given (a multipart "abc-2", say).
  void put(const std::string& bucket, const std::string& key, std::string body,
           std::optional<std::string> etag = std::nullopt);
  std::optional<Object> object(const std::string& bucket, const std::string& key) const;
  void remove(const std::string& bucket, const std::string& key);
  /// Gives a stored object the headers an application uploaded it with.
  void set_headers(const std::string& bucket, const std::string& key, std::string content_type,
                   http::Headers metadata);
  /// Every key of the bucket, in byte order.
  std::vector<std::string> keys(const std::string& bucket) const;

  /// The next `times` calls of `op` naming `key` fail with `error`. A call names: its prefix
  /// (kList), its key (kHead, kGet), its destination key (kPut, kCopy), its first key (kDelete).
  void fail(Op op, const std::string& key, Error error, int times = 1);
  /// Runs just before every call of `op` is applied, with the key it names: a test changes the
  /// world under the caller here.
  void before(Op op, std::function<void(const std::string& key)> hook);
  /// Answers to calls naming `key` wait until release() (or release_all()).
  void hold(const std::string& key);
  void release(const std::string& key);
  void release_all();
  std::size_t held() const;

  /// Calls of `op` so far (all keys).
  std::size_t calls(Op op) const;
  /// Every CopyObject request, in order (to check the conditions sent).
  std::vector<s3::CopyRequest> copies;
  /// Writes (PUT and COPY) that replaced an existing object.
  std::size_t overwrites() const { return overwrites_; }

  Dialect dialect;
  /// The ETag a server-side copy gets; by default the source's (a multipart source's copy
  /// gets a new single-part ETag on AWS: a test sets that here).
  std::function<std::string(const Object& source)> copy_etag;

  void list_objects_v2(s3::ListRequest request, s3::Callback<s3::ListPage> done) override;
  void head_object(std::string bucket, std::string key, s3::Callback<s3::ObjectInfo> done) override;
  void get_object(s3::GetRequest request, s3::Callback<s3::GetResult> done) override;
  void put_object(s3::PutRequest request, s3::Callback<s3::ObjectInfo> done) override;
  void copy_object(s3::CopyRequest request, s3::Callback<s3::CopyResult> done) override;
  void delete_objects(std::string bucket, std::vector<s3::DeleteTarget> targets,
                      s3::Callback<s3::DeleteResult> done) override;
  void delete_object(std::string bucket, s3::DeleteTarget target, s3::Callback<Ok> done) override;
  void create_multipart_upload(s3::PutRequest request, s3::Callback<std::string> done) override;
  void upload_part(s3::UploadPartRequest request, s3::Callback<std::string> done) override;
  void upload_part_copy(s3::UploadPartCopyRequest request, s3::Callback<std::string> done) override;
  void complete_multipart_upload(s3::CompleteRequest request,
                                 s3::Callback<std::string> done) override;
  void abort_multipart_upload(std::string bucket, std::string key, std::string upload_id,
                              s3::Callback<Ok> done) override;
  void get_object_tagging(std::string bucket, std::string key,
                          s3::Callback<std::string> done) override;
  void put_object_tagging(std::string bucket, std::string key, std::string tagging,
                          s3::Callback<Ok> done) override;
  /// Like radosgw 16: CreateMultipartUpload ignores x-amz-tagging (AWS honours it).
  bool multipart_drops_tagging = false;
  /// Like radosgw 16: CompleteMultipartUpload answers <ETag></ETag>.
  bool complete_without_etag = false;
  /// The server completes an upload but its answer is lost (a reset connection).
  bool complete_answer_lost = false;

  /// Multipart uploads begun and neither completed nor aborted.
  std::size_t open_uploads() const { return uploads_.size(); }
  /// Parts copied server-side (UploadPartCopy) so far.
  std::size_t part_copies() const { return part_copies_; }
  /// The largest body held by one GET answer or one write request so far (the memory a
  /// streamed copy needs at once).
  std::size_t largest_body() const { return largest_body_; }

  /// DeleteObjects requests answered (faults not counted).
  std::size_t delete_requests() const { return delete_requests_; }

 private:
  bool delete_condition_holds(const std::string& bucket, const s3::DeleteTarget& target);
  std::size_t delete_requests_ = 0;
  std::size_t part_copies_ = 0;
  struct Fault {
    Op op;
    std::string key;
    Error error;
    int times;
  };
  std::optional<Error> take_fault(Op op, const std::string& key);
  void run_hooks(Op op, const std::string& key);
  /// The 412 (or 404) a conditional write gets from this dialect, or nullopt.
  std::optional<Error> refuse_write(bool if_none_match, const std::string& if_match,
                                    const std::optional<Object>& existing,
                                    const std::string& key) const;
  /// Delivers `answer` now, later on the loop, or when `key` is released.
  void deliver(const std::string& key, std::function<void()> answer);
  s3::ObjectInfo info(const std::string& key, const Object& object) const;
  s3::ObjectInfo described(const std::string& key, const Object& object) const;
  /// Stores `object` under bucket/key as this dialect would: the ETag and encryption of a KMS
  /// bucket, a checksum when stored.
  void store(const std::string& bucket, const std::string& key, Object object,
             std::optional<std::string> etag);

  http::Loop* loop_;
  std::map<std::string, std::map<std::string, Object>> buckets_;
  std::vector<Fault> faults_;
  std::multimap<Op, std::function<void(const std::string&)>> hooks_;
  std::map<std::string, bool> holding_;
  std::vector<std::pair<std::string, std::function<void()>>> held_;
  std::map<Op, std::size_t> calls_;
  std::size_t overwrites_ = 0;
  std::size_t writes_ = 0;
  struct Upload {
    std::string bucket, key;
    Object headers;  ///< Everything but the body and ETag, from CreateMultipartUpload.
    std::map<int, std::string> parts;
  };
  std::map<std::string, Upload> uploads_;
  std::size_t largest_body_ = 0;
};

/// Errors as a server words them, for scripting faults.
Error not_found(const std::string& key);
Error access_denied(const std::string& key);
Error precondition_failed(const std::string& key);
Error throttled(const std::string& key);
/// The checksum the fake computes for a body (a stand-in value, not a real CRC).
s3::Checksum fake_checksum(const std::string& body, const char* algorithm = "CRC32");
/// A 403 with this S3 code (InvalidObjectState for an archived object, ExpiredToken...).
Error forbidden(const std::string& key, const char* code);

}  // namespace rehome::fakes
