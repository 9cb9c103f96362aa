// Values the S3 client speaks in. No behaviour here: requests, results and configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/loop.h"

namespace rehome::s3 {

/// AWS credentials. The secret and the session token are never printed, logged or put in an
/// error message; only the access key id may be named.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  ///< Empty when not using temporary credentials.
  /// Where they came from ("environment", "profile dev in ~/.aws/credentials"): the identity
  /// two buckets share when their sources are the same, whatever the keys (which change when
  /// temporary credentials are refreshed). Never a secret.
  std::string source;
};

/// Where a bucket lives and how to address it.
struct Endpoint {
  std::string url = "https://s3.amazonaws.com";  ///< scheme://host[:port], no trailing slash
  std::string region = "us-east-1";
  bool path_style = true;  ///< false: virtual-hosted (https://bucket.host/key)
  /// PEM file of the CA(s) to trust instead of the system's store (a private CA); "" = system.
  std::string ca_bundle;
  /// false only with --no-verify-ssl: the certificate and host name are not checked.
  bool verify_tls = true;
};

/// Everything a Client needs to reach one endpoint.
class RefreshingCredentials;

struct ClientConfig {
  Endpoint endpoint;
  /// Static credentials; or, with `refreshing`, the ones it fetched at start-up (for messages).
  Credentials credentials;
  /// Temporary credentials refreshed while the job runs (refreshing_credentials.h); requests
  /// sign with its current() ones. Null: `credentials` never change.
  std::shared_ptr<RefreshingCredentials> refreshing;
};

/// A full-object checksum as the server stores it (HEAD with x-amz-checksum-mode: ENABLED).
/// Composite checksums of multipart uploads ("...-3") depend on the part sizes, so they are
/// never kept here: two full-object checksums of one algorithm compare content exactly.
struct Checksum {
  std::string algorithm;  ///< "CRC64NVME", "CRC32", "CRC32C", "SHA1", "SHA256"
  std::string value;      ///< Base64, as sent.
  bool operator==(const Checksum&) const = default;
};

/// The user metadata header that marks rehome's own copy: its value is the ETag of the legacy
/// object the copy was made from. It lets a rerun recognise the copy when ETags cannot (SSE-KMS,
/// SSE-C, multipart) and no checksum is stored, even if rehome was killed before recording it.
inline constexpr const char* kCopiedFromHeader = "x-amz-meta-rehome-source-etag";

/// An object as a listing or a HEAD describes it. The ETag is normalised: no quotes.
struct ObjectInfo {
  std::string key;
  std::string etag;
  std::int64_t size = 0;
  std::string last_modified;  ///< As the server sent it (ISO 8601 in listings, RFC 1123 in HEAD).
  std::string content_type;   ///< HEAD/GET only.
  std::string storage_class;  ///< Empty when the server did not say (STANDARD on AWS).

  // Known only from HEAD or GET (`described`); a listing leaves them empty.
  bool described = false;
  std::string encryption;  ///< "AES256", "aws:kms", "aws:kms:dsse", "SSE-C", or empty (none).
  std::optional<Checksum> checksum;
  std::string copied_from_etag;  ///< kCopiedFromHeader: set on rehome's own copies.
  /// What a copy must carry to be the same object to a browser: Cache-Control,
  /// Content-Disposition, Content-Encoding, Content-Language, Expires, the website redirect and
  /// every x-amz-meta-* header (rehome's mark excepted). Content-Type is content_type.
  http::Headers metadata;
  int tag_count = 0;  ///< x-amz-tagging-count.
};

/// The most keys S3 returns in one ListObjectsV2 page.
inline constexpr int kMaxKeysPerPage = 1000;

struct ListRequest {
  std::string bucket;
  std::string prefix;
  std::string start_after;         ///< List keys strictly after this one.
  std::string continuation_token;  ///< From the previous page; wins over start_after.
  int max_keys = 1000;
};

struct ListPage {
  std::vector<ObjectInfo>
      objects;  ///< Keys are URL-decoded (the client asks for encoding-type=url).
  bool truncated = false;
  std::string next_continuation_token;
};

struct CopyRequest {
  std::string source_bucket;
  std::string source_key;
  std::string bucket;  ///< Destination.
  std::string key;
  /// If-None-Match: * — fail with 412 when the destination exists (AWS honours it on
  /// CopyObject; radosgw and s3rver ignore it, so callers still verify).
  bool if_none_match = false;
  /// x-amz-copy-source-if-match: copy only if the source still has this ETag (empty: unset).
  std::string source_if_match;
  /// If-Match: replace the destination only while it still has this ETag (rehome's own copy of
  /// an older version). AWS honours it since 2025; radosgw and s3rver ignore it.
  std::string if_match;
  /// When set, the copy takes these headers (Content-Type, metadata, rehome's mark) instead of
  /// the source's: x-amz-metadata-directive REPLACE. Tags are still copied.
  std::optional<http::Headers> replace_metadata;
  std::string acl;            ///< x-amz-acl (a canned ACL) when non-empty.
  std::string storage_class;  ///< x-amz-storage-class when non-empty.
  /// Whole-request limit; zero keeps the client's default. A copy takes time in proportion to
  /// the object's size (the server sends nothing but whitespace until it is done).
  std::chrono::milliseconds timeout{0};
};

/// CopyObject's answer. The ETag is required: a 200 without one (or with an <Error> body) is
/// an error, never a success.
struct CopyResult {
  std::string etag;
  std::string last_modified;
};

struct PutRequest {
  std::string bucket;
  std::string key;
  std::string body;              ///< In-memory body, used when body_source is unset.
  http::BodySource body_source;  ///< Streamed body of body_length bytes.
  std::int64_t body_length = -1;
  /// Rewinds body_source to its first byte so a failed attempt can be retried; when unset, a
  /// streamed PUT is not retried by the client.
  std::function<bool()> rewind;
  std::string content_md5_base64;  ///< Computed from `body` when empty and body is in memory.
  std::string content_type;
  http::Headers metadata;      ///< Sent as given (Cache-Control, x-amz-meta-*...).
  std::string tagging;         ///< x-amz-tagging (URL query form) when non-empty.
  bool if_none_match = false;  ///< Send If-None-Match: * (fail with 412 if the key exists).
  std::string if_match;        ///< If-Match: replace only while the key has this ETag.
  std::string acl;             ///< x-amz-acl (a canned ACL) when non-empty.
  std::string storage_class;   ///< x-amz-storage-class when non-empty.
  std::chrono::milliseconds timeout{0};  ///< Whole-request limit; zero keeps the default.
};

struct GetRequest {
  std::string bucket;
  std::string key;
  std::int64_t range_first = -1;  ///< With range_last: only bytes [first, last] (Range header).
  std::int64_t range_last = -1;
  std::string if_match;      ///< If-Match: 412 when the object no longer has this ETag.
  http::BodySink body_sink;  ///< When set, the body streams here; otherwise it is returned.
  /// Called before a retry re-sends a streamed GET, so the sink can discard what it received.
  std::function<void()> on_restart;
  std::chrono::milliseconds timeout{0};  ///< Whole-request limit; zero keeps the default.
};

struct GetResult {
  ObjectInfo info;
  std::string body;  ///< Empty when the request had a body_sink.
};

/// One part of a multipart upload (UploadPart), in memory with its Content-MD5.
struct UploadPartRequest {
  std::string bucket;
  std::string key;
  std::string upload_id;
  int part_number = 1;  ///< 1 to 10,000.
  std::string body;
  std::chrono::milliseconds timeout{0};
};

/// UploadPartCopy: one byte range of an existing object, copied server-side into a part (how
/// objects over CopyObject's 5 GB limit are copied).
struct UploadPartCopyRequest {
  std::string bucket;
  std::string key;
  std::string upload_id;
  int part_number = 1;  ///< 1 to 10,000.
  std::string source_bucket;
  std::string source_key;
  std::int64_t range_first = 0;  ///< Inclusive byte range of the source.
  std::int64_t range_last = 0;
  std::string source_if_match;  ///< The source version the parts must all come from.
  std::chrono::milliseconds timeout{0};
};

/// CompleteMultipartUpload: the parts' ETags in order, and the same write conditions a PUT has.
struct CompleteRequest {
  std::string bucket;
  std::string key;
  std::string upload_id;
  std::vector<std::string> part_etags;
  bool if_none_match = false;
  std::string if_match;
  std::chrono::milliseconds timeout{0};
};

struct DeleteError {
  std::string key;
  std::string code;
  std::string message;
};

/// One key for DeleteObject(s). With `etag`, the delete is conditional: AWS deletes the object
/// only while it still has that ETag (If-Match; <ETag> in a DeleteObjects document), so an
/// object rewritten after it was judged is kept. radosgw 16 ignores the condition.
struct DeleteTarget {
  std::string key;
  std::string etag;  ///< Unquoted; "" = unconditional.
};

struct DeleteResult {
  std::vector<std::string> deleted;
  std::vector<DeleteError> errors;  ///< Per-key failures the server reported in a 200 answer.
};

}  // namespace rehome::s3
