// The S3 client: every operation rehome needs, asynchronous on the one event loop. Each
// operation signs its request, passes through the shared Pacer, retries what is retryable
// with backoff timers, and completes with a Result that classifies any failure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "http/loop.h"
#include "s3/api.h"
#include "s3/observer.h"
#include "s3/pacer.h"
#include "s3/retry.h"
#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

struct ClientStats {
  std::uint64_t requests = 0;  ///< Attempts sent, retries included.
  std::uint64_t retries = 0;
  std::uint64_t throttled = 0;  ///< Responses classified as throttled.
  std::uint64_t failures = 0;   ///< Operations that completed with an error.
};

/// Injectable clock for signing (tests skew it to provoke RequestTimeTooSkewed).
using SigningClock = std::function<std::chrono::system_clock::time_point()>;

class Client final : public Api {
 public:
  /// `loop` and `pacer` must outlive the client. Several clients (one per endpoint) may share
  /// a pacer so that throttling slows the whole job.
  Client(http::Loop& loop, Pacer& pacer, ClientConfig config, RetryPolicy retry = {},
         SigningClock clock = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// ListObjectsV2 with encoding-type=url; keys in the page are decoded.
  void list_objects_v2(ListRequest request, Callback<ListPage> done) override;
  /// HeadObject: kNotFound when the key does not exist.
  void head_object(std::string bucket, std::string key, Callback<ObjectInfo> done) override;
  /// GetObject, streamed to request.body_sink when set.
  void get_object(GetRequest request, Callback<GetResult> done) override;
  /// PutObject with Content-MD5; returns the stored object's ETag and size.
  void put_object(PutRequest request, Callback<ObjectInfo> done) override;
  /// Server-side CopyObject (metadata and content type preserved). A 200 with an <Error> body,
  /// or without an ETag, completes with an error.
  void copy_object(CopyRequest request, Callback<CopyResult> done) override;
  void create_multipart_upload(PutRequest request, Callback<std::string> done) override;
  void upload_part(UploadPartRequest request, Callback<std::string> done) override;
  void upload_part_copy(UploadPartCopyRequest request, Callback<std::string> done) override;
  void complete_multipart_upload(CompleteRequest request, Callback<std::string> done) override;
  void abort_multipart_upload(std::string bucket, std::string key, std::string upload_id,
                              Callback<Ok> done) override;
  void get_object_tagging(std::string bucket, std::string key, Callback<std::string> done) override;
  void put_object_tagging(std::string bucket, std::string key, std::string tagging,
                          Callback<Ok> done) override;
  void delete_object(std::string bucket, DeleteTarget target, Callback<Ok> done) override;
  /// DeleteObjects for up to 1,000 keys; per-key failures are in the result, not an error.
  void delete_objects(std::string bucket, std::vector<DeleteTarget> targets,
                      Callback<DeleteResult> done) override;
  /// CreateBucket (PUT /bucket); a bucket this account already owns counts as created.
  /// For tests, tools and the demo seeder: the migration itself never creates buckets.
  /// GetBucketVersioning: "Enabled", "Suspended", or "" for a bucket never versioned. Not
  /// part of Api: only cleanup asks, to say honestly what a delete reclaims.
  void get_bucket_versioning(std::string bucket, Callback<std::string> done);
  void create_bucket(std::string bucket, Callback<Ok> done);

  /// Tells `observer` (null: no one) of every attempt from now on; it must outlive the client.
  void observe(RequestObserver* observer);
  const ClientStats& stats() const;
  const ClientConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Runs `loop` until `start`'s operation completes and returns its result: for tests, tools
/// and the few places where there is nothing else to do while waiting.
template <typename T, typename Start>
Result<T> run_to_completion(http::Loop& loop, Start&& start) {
  std::optional<Result<T>> out;
  start([&out](Result<T> r) { out.emplace(std::move(r)); });
  while (!out) loop.run();
  return std::move(*out);
}

}  // namespace rehome::s3
