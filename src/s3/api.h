// The S3 operations the engine uses, as an interface: s3::Client speaks them to a server over
// the event loop; the engine's unit tests put an in-tree fake behind it (tests/fakes/fake_s3.h)
// so the Copier's and ObjectSync's state machines run in milliseconds, with every answer a
// server can give, in any order.
//
// Every operation completes exactly once, through its callback, on the loop's thread; never
// before the call returns unless the implementation says so (the fake can, to test that the
// callers cope with it).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

template <typename T>
using Callback = std::function<void(Result<T>)>;

class Api {
 public:
  virtual ~Api() = default;

  /// ListObjectsV2 with encoding-type=url; keys in the page are decoded.
  virtual void list_objects_v2(ListRequest request, Callback<ListPage> done) = 0;
  /// HeadObject: kNotFound when the key does not exist.
  virtual void head_object(std::string bucket, std::string key, Callback<ObjectInfo> done) = 0;
  /// GetObject, streamed to request.body_sink when set.
  virtual void get_object(GetRequest request, Callback<GetResult> done) = 0;
  /// PutObject with Content-MD5; returns the stored object's ETag and size.
  virtual void put_object(PutRequest request, Callback<ObjectInfo> done) = 0;
  /// Server-side CopyObject (metadata and content type preserved). A 200 with an <Error> body,
  /// or without an ETag, completes with an error.
  virtual void copy_object(CopyRequest request, Callback<CopyResult> done) = 0;
  /// CreateMultipartUpload with the headers of `request` (content type, metadata, tagging,
  /// ACL, storage class; its body is ignored): the upload id.
  virtual void create_multipart_upload(PutRequest request, Callback<std::string> done) = 0;
  /// UploadPart with Content-MD5: the part's ETag.
  virtual void upload_part(UploadPartRequest request, Callback<std::string> done) = 0;
  /// UploadPartCopy: a byte range of another object as a part, server-side: the part's ETag.
  /// A 200 with an <Error> body completes with an error, as for CopyObject.
  virtual void upload_part_copy(UploadPartCopyRequest request, Callback<std::string> done) = 0;
  /// CompleteMultipartUpload: the object's ETag (empty when the server does not say).
  virtual void complete_multipart_upload(CompleteRequest request, Callback<std::string> done) = 0;
  /// AbortMultipartUpload: frees the parts of an upload that will not complete.
  virtual void abort_multipart_upload(std::string bucket, std::string key, std::string upload_id,
                                      Callback<Ok> done) = 0;
  /// GetObjectTagging: the tags in x-amz-tagging form ("k=v&k2=v2"), empty when none.
  virtual void get_object_tagging(std::string bucket, std::string key,
                                  Callback<std::string> done) = 0;
  /// PutObjectTagging: replaces the object's tags (`tagging` in x-amz-tagging form).
  virtual void put_object_tagging(std::string bucket, std::string key, std::string tagging,
                                  Callback<Ok> done) = 0;
  /// DeleteObject: one key, named in the URL (for keys a DeleteObjects document cannot carry);
  /// conditional on the target's ETag when it has one (412 when it no longer matches).
  virtual void delete_object(std::string bucket, DeleteTarget target, Callback<Ok> done) = 0;
  /// DeleteObjects for up to 1,000 keys, each conditional on its ETag when it has one;
  /// per-key failures (a condition that failed among them) are in the result, not an error.
  virtual void delete_objects(std::string bucket, std::vector<DeleteTarget> targets,
                              Callback<DeleteResult> done) = 0;
};

}  // namespace rehome::s3
