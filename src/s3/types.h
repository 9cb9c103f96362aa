// Values the S3 client speaks in. No behaviour here: requests, results and configuration.
#pragma once

#include <cstdint>
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
};

/// Where a bucket lives and how to address it.
struct Endpoint {
  std::string url = "https://s3.amazonaws.com";  ///< scheme://host[:port], no trailing slash
  std::string region = "us-east-1";
  bool path_style = true;  ///< false: virtual-hosted (https://bucket.host/key)
};

/// Everything a Client needs to reach one endpoint.
struct ClientConfig {
  Endpoint endpoint;
  Credentials credentials;
};

/// An object as a listing or a HEAD describes it. The ETag is normalised: no quotes.
struct ObjectInfo {
  std::string key;
  std::string etag;
  std::int64_t size = 0;
  std::string last_modified;  ///< As the server sent it (ISO 8601 in listings, RFC 1123 in HEAD).
  std::string content_type;   ///< HEAD/GET only.
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
  bool if_none_match = false;  ///< Send If-None-Match: * (fail with 412 if the key exists).
};

struct GetRequest {
  std::string bucket;
  std::string key;
  http::BodySink body_sink;  ///< When set, the body streams here; otherwise it is returned.
  /// Called before a retry re-sends a streamed GET, so the sink can discard what it received.
  std::function<void()> on_restart;
};

struct GetResult {
  ObjectInfo info;
  std::string body;  ///< Empty when the request had a body_sink.
};

struct DeleteError {
  std::string key;
  std::string code;
  std::string message;
};

struct DeleteResult {
  std::vector<std::string> deleted;
  std::vector<DeleteError> errors;  ///< Per-key failures the server reported in a 200 answer.
};

}  // namespace rehome::s3
