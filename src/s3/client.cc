// Each operation is a description (method, target, signed headers, body) plus a reader for
// its 2xx answer; exchange.cc does the signing, pacing and retrying they all share.
#include "s3/client.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "s3/addressing.h"
#include "s3/exchange.h"
#include "s3/xml.h"
#include "util/crypto.h"
#include "util/uri.h"

namespace rehome::s3 {

namespace {

constexpr std::size_t kMaxDeleteKeys = 1000;

std::string describe(const ClientCore& core, std::string_view op, std::string_view bucket,
                     std::string_view key) {
  return std::string(op) + " " + s3_uri(bucket, key) + " at " + core.config.endpoint.url;
}

std::int64_t content_length(const http::Response& response, std::int64_t fallback) {
  const std::string* text = response.header("content-length");
  std::int64_t value = 0;
  if (text == nullptr) return fallback;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  return ec == std::errc{} && end == text->data() + text->size() ? value : fallback;
}

std::string header_or_empty(const http::Response& response, std::string_view name) {
  const std::string* value = response.header(name);
  return value != nullptr ? *value : std::string();
}

// The checksum headers S3 may answer with, strongest first.
constexpr std::pair<const char*, const char*> kChecksumHeaders[] = {
    {"x-amz-checksum-crc64nvme", "CRC64NVME"},
    {"x-amz-checksum-sha256", "SHA256"},
    {"x-amz-checksum-sha1", "SHA1"},
    {"x-amz-checksum-crc32c", "CRC32C"},
    {"x-amz-checksum-crc32", "CRC32"}};

// Headers that describe the content to a browser: a copy that replaces metadata, or a
// streamed copy, must carry them. Content-Type travels in ObjectInfo::content_type.
constexpr std::string_view kCarriedHeaders[] = {
    "cache-control",    "content-disposition",
    "content-encoding", "content-language",
    "expires",          "x-amz-website-redirect-location"};

// A full-object checksum from the headers, or nullopt (none, or a composite one, whose value
// depends on how the object was uploaded in parts).
std::optional<Checksum> full_object_checksum(const http::Response& response) {
  const std::string* type = response.header("x-amz-checksum-type");
  if (type != nullptr && *type == "COMPOSITE") return std::nullopt;
  for (const auto& [name, algorithm] : kChecksumHeaders) {
    const std::string* value = response.header(name);
    if (value == nullptr || value->empty()) continue;
    if (value->find('-') != std::string::npos) return std::nullopt;  // "<base64>-<parts>"
    return Checksum{algorithm, *value};
  }
  return std::nullopt;
}

// What HEAD and GET say about an object, from the response headers.
ObjectInfo object_info(std::string key, const http::Response& response, std::int64_t size) {
  ObjectInfo info;
  info.key = std::move(key);
  info.etag = normalize_etag(header_or_empty(response, "etag"));
  info.size = content_length(response, size);
  info.last_modified = header_or_empty(response, "last-modified");
  info.content_type = header_or_empty(response, "content-type");
  info.storage_class = header_or_empty(response, "x-amz-storage-class");
  info.described = true;
  info.encryption = header_or_empty(response, "x-amz-server-side-encryption");
  if (response.header("x-amz-server-side-encryption-customer-algorithm") != nullptr) {
    info.encryption = "SSE-C";
  }
  info.checksum = full_object_checksum(response);
  info.copied_from_etag = normalize_etag(header_or_empty(response, kCopiedFromHeader));
  for (const auto& [name, value] : response.headers) {
    const bool carried = std::find(std::begin(kCarriedHeaders), std::end(kCarriedHeaders), name) !=
                         std::end(kCarriedHeaders);
    if (name == kCopiedFromHeader || !(carried || name.starts_with("x-amz-meta-"))) continue;
    info.metadata.emplace_back(name, value);
  }
  const std::string tags = header_or_empty(response, "x-amz-tagging-count");
  std::from_chars(tags.data(), tags.data() + tags.size(), info.tag_count);
  return info;
}

// The headers a write sends for ACL and storage class, when asked for.
void add_write_options(http::Headers& headers, const std::string& acl,
                       const std::string& storage_class) {
  if (!acl.empty()) headers.emplace_back("x-amz-acl", acl);
  if (!storage_class.empty()) headers.emplace_back("x-amz-storage-class", storage_class);
}

// Fails the operation without sending anything, from the loop (never from inside the call).
template <typename T>
void fail_later(http::Loop& loop, Callback<T> done, Error error) {
  loop.after(
      std::chrono::milliseconds(0),
      [done = std::move(done), error = std::move(error)]() mutable { done(std::move(error)); });
}

// Adapts a document parser to ExchangeSpec::accept, keeping the parsed value in `slot`.
template <typename T, typename Parse>
std::function<std::optional<Error>(http::Response&)> parse_into(std::shared_ptr<T> slot,
                                                                Parse parse) {
  return [slot = std::move(slot), parse](http::Response& response) -> std::optional<Error> {
    Result<T> parsed = parse(response.body);
    if (!parsed) return std::move(parsed).error();
    *slot = std::move(parsed).value();
    return std::nullopt;
  };
}

// Runs `spec`; `done` gets what `parse` read from the 2xx answer's document.
template <typename T, typename Parse>
void run_parsed(const std::shared_ptr<ClientCore>& core, ExchangeSpec spec, Parse parse,
                Callback<T> done) {
  auto slot = std::make_shared<T>();
  spec.accept = parse_into(slot, parse);
  run_exchange(core, std::move(spec), [slot, done = std::move(done)](Result<http::Response> r) {
    if (!r) return done(std::move(r).error());
    done(std::move(*slot));
  });
}

// Runs `spec` for an operation whose answer says nothing beyond success.
void run_ok(const std::shared_ptr<ClientCore>& core, ExchangeSpec spec, Callback<Ok> done) {
  run_exchange(core, std::move(spec), [done = std::move(done)](Result<http::Response> r) {
    if (!r) return done(std::move(r).error());
    done(Ok{});
  });
}

}  // namespace

struct Client::Impl {
  std::shared_ptr<ClientCore> core;
};

Client::Client(http::Loop& loop, Pacer& pacer, ClientConfig config, RetryPolicy retry,
               SigningClock clock)
    : impl_(std::make_unique<Impl>()) {
  impl_->core = std::make_shared<ClientCore>(ClientCore{loop,
                                                        pacer,
                                                        std::move(config),
                                                        retry,
                                                        std::move(clock),
                                                        {},
                                                        std::mt19937_64(std::random_device{}()),
                                                        {},
                                                        {},
                                                        nullptr});
}

Client::~Client() = default;

void Client::list_objects_v2(ListRequest request, Callback<ListPage> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "ListObjectsV2";
  spec.what = describe(*core, "LIST", request.bucket, request.prefix);
  spec.method = "GET";
  spec.bucket = request.bucket;
  spec.query = {
      {"list-type", "2"}, {"encoding-type", "url"}, {"max-keys", std::to_string(request.max_keys)}};
  if (!request.prefix.empty()) spec.query.emplace_back("prefix", request.prefix);
  if (!request.continuation_token.empty()) {
    spec.query.emplace_back("continuation-token", request.continuation_token);
  } else if (!request.start_after.empty()) {
    spec.query.emplace_back("start-after", request.start_after);
  }
  run_parsed<ListPage>(
      core, std::move(spec), [](std::string_view xml) { return parse_list_page(xml, true); },
      std::move(done));
}

void Client::head_object(std::string bucket, std::string key, Callback<ObjectInfo> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "HeadObject";
  spec.what = describe(*core, "HEAD", bucket, key);
  spec.method = "HEAD";
  spec.bucket = std::move(bucket);
  spec.key = key;
  // AWS returns the stored full-object checksum only when asked; others ignore the header.
  spec.headers.emplace_back("x-amz-checksum-mode", "ENABLED");
  run_exchange(core, std::move(spec),
               [key = std::move(key), done = std::move(done)](Result<http::Response> r) {
                 if (!r) return done(std::move(r).error());
                 done(object_info(key, r.value(), 0));
               });
}

void Client::get_object(GetRequest request, Callback<GetResult> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "GetObject";
  spec.what = describe(*core, "GET", request.bucket, request.key);
  spec.method = "GET";
  spec.bucket = std::move(request.bucket);
  spec.key = request.key;
  spec.timeout = request.timeout;
  if (request.range_first >= 0 && request.range_last >= request.range_first) {
    spec.headers.emplace_back("range", "bytes=" + std::to_string(request.range_first) + "-" +
                                           std::to_string(request.range_last));
  }
  if (!request.if_match.empty())
    spec.headers.emplace_back("if-match", "\"" + normalize_etag(request.if_match) + "\"");
  spec.body_sink = std::move(request.body_sink);
  if (request.on_restart) {
    spec.before_retry = [restart = std::move(request.on_restart)] {
      restart();
      return true;
    };
  }
  run_exchange(core, std::move(spec),
               [key = std::move(request.key), done = std::move(done)](Result<http::Response> r) {
                 if (!r) return done(std::move(r).error());
                 http::Response& response = r.value();
                 GetResult result;
                 result.info =
                     object_info(key, response, static_cast<std::int64_t>(response.body.size()));
                 result.body = std::move(response.body);
                 done(std::move(result));
               });
}

void Client::put_object(PutRequest request, Callback<ObjectInfo> done) {
  auto& core = impl_->core;
  const bool streamed = static_cast<bool>(request.body_source);
  ExchangeSpec spec;
  spec.operation = "PutObject";
  spec.what = describe(*core, "PUT", request.bucket, request.key);
  if (streamed && request.body_length < 0) {
    Error error;
    error.kind = ErrorKind::kInvalidInput;
    error.message = spec.what + ": a streamed body needs its length (body_length)";
    ++core->stats.failures;
    return fail_later(core->loop, std::move(done), std::move(error));
  }
  spec.method = "PUT";
  spec.bucket = std::move(request.bucket);
  spec.key = request.key;
  std::string md5_base64 = std::move(request.content_md5_base64);
  if (md5_base64.empty() && !streamed) md5_base64 = base64_encode(md5(request.body));
  if (!md5_base64.empty()) spec.headers.emplace_back("content-md5", md5_base64);
  if (!request.content_type.empty())
    spec.headers.emplace_back("content-type", request.content_type);
  for (auto& header : request.metadata) spec.headers.push_back(std::move(header));
  if (!request.tagging.empty()) spec.headers.emplace_back("x-amz-tagging", request.tagging);
  if (request.if_none_match) spec.headers.emplace_back("if-none-match", "*");
  if (!request.if_match.empty())
    spec.headers.emplace_back("if-match", "\"" + normalize_etag(request.if_match) + "\"");
  add_write_options(spec.headers, request.acl, request.storage_class);
  spec.timeout = request.timeout;
  std::int64_t size = 0;
  if (streamed) {
    spec.body_source = std::move(request.body_source);
    spec.body_length = size = request.body_length;
    // A stream that cannot go back to its first byte cannot be sent twice.
    spec.before_retry = [rewind = std::move(request.rewind)] { return rewind && rewind(); };
  } else {
    size = static_cast<std::int64_t>(request.body.size());
    spec.body = std::move(request.body);
  }
  ObjectInfo info;
  info.key = std::move(request.key);
  info.size = size;
  info.content_type = std::move(request.content_type);
  run_exchange(core, std::move(spec),
               [info = std::move(info), done = std::move(done)](Result<http::Response> r) mutable {
                 if (!r) return done(std::move(r).error());
                 info.etag = normalize_etag(header_or_empty(r.value(), "etag"));
                 info.last_modified = header_or_empty(r.value(), "last-modified");
                 done(std::move(info));
               });
}

void Client::copy_object(CopyRequest request, Callback<CopyResult> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "CopyObject";
  spec.what = "COPY " + s3_uri(request.source_bucket, request.source_key) + " to " +
              s3_uri(request.bucket, request.key) + " at " + core->config.endpoint.url;
  spec.method = "PUT";
  spec.bucket = std::move(request.bucket);
  spec.key = std::move(request.key);
  spec.headers.emplace_back("x-amz-copy-source", "/" + request.source_bucket + "/" +
                                                     uri_encode(request.source_key, true));
  if (request.replace_metadata) {
    spec.headers.emplace_back("x-amz-metadata-directive", "REPLACE");
    for (auto& header : *request.replace_metadata) spec.headers.push_back(std::move(header));
  } else {
    spec.headers.emplace_back("x-amz-metadata-directive", "COPY");
  }
  if (request.if_none_match) spec.headers.emplace_back("if-none-match", "*");
  if (!request.if_match.empty())
    spec.headers.emplace_back("if-match", "\"" + normalize_etag(request.if_match) + "\"");
  add_write_options(spec.headers, request.acl, request.storage_class);
  spec.timeout = request.timeout;
  if (!request.source_if_match.empty()) {
    // The standard header only: radosgw ignores it (and honours a non-standard one), so callers
    // compare ETags themselves rather than trust the condition.
    spec.headers.emplace_back("x-amz-copy-source-if-match",
                              "\"" + normalize_etag(request.source_if_match) + "\"");
  }
  // A 200 may still carry an <Error>, or lack the ETag that proves the copy: both fail here.
  run_parsed<CopyResult>(
      core, std::move(spec), [](std::string_view xml) { return parse_copy_result(xml); },
      std::move(done));
}

void Client::create_multipart_upload(PutRequest request, Callback<std::string> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "CreateMultipartUpload";
  spec.what = describe(*core, "CREATE MULTIPART UPLOAD", request.bucket, request.key);
  spec.method = "POST";
  spec.bucket = std::move(request.bucket);
  spec.key = std::move(request.key);
  spec.query = {{"uploads", ""}};
  if (!request.content_type.empty())
    spec.headers.emplace_back("content-type", request.content_type);
  for (auto& header : request.metadata) spec.headers.push_back(std::move(header));
  if (!request.tagging.empty()) spec.headers.emplace_back("x-amz-tagging", request.tagging);
  add_write_options(spec.headers, request.acl, request.storage_class);
  run_parsed<std::string>(
      core, std::move(spec), [](std::string_view xml) { return parse_upload_id(xml); },
      std::move(done));
}

void Client::upload_part(UploadPartRequest request, Callback<std::string> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "UploadPart";
  spec.what = describe(*core, "UPLOAD PART " + std::to_string(request.part_number) + " of",
                       request.bucket, request.key);
  spec.method = "PUT";
  spec.bucket = std::move(request.bucket);
  spec.key = std::move(request.key);
  spec.query = {{"partNumber", std::to_string(request.part_number)},
                {"uploadId", std::move(request.upload_id)}};
  spec.headers.emplace_back("content-md5", base64_encode(md5(request.body)));
  spec.body = std::move(request.body);
  spec.timeout = request.timeout;
  run_exchange(core, std::move(spec), [done = std::move(done)](Result<http::Response> r) {
    if (!r) return done(std::move(r).error());
    std::string etag = normalize_etag(header_or_empty(r.value(), "etag"));
    if (etag.empty()) return done(Error::permanent("UploadPart answered without an ETag"));
    done(std::move(etag));
  });
}

void Client::upload_part_copy(UploadPartCopyRequest request, Callback<std::string> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "UploadPartCopy";
  spec.what = fmt::format("COPY PART {} (bytes {}-{}) of {} to {} at {}", request.part_number,
                          request.range_first, request.range_last,
                          s3_uri(request.source_bucket, request.source_key),
                          s3_uri(request.bucket, request.key), core->config.endpoint.url);
  spec.method = "PUT";
  spec.bucket = std::move(request.bucket);
  spec.key = std::move(request.key);
  spec.query = {{"partNumber", std::to_string(request.part_number)},
                {"uploadId", std::move(request.upload_id)}};
  spec.headers.emplace_back("x-amz-copy-source", "/" + request.source_bucket + "/" +
                                                     uri_encode(request.source_key, true));
  spec.headers.emplace_back("x-amz-copy-source-range",
                            fmt::format("bytes={}-{}", request.range_first, request.range_last));
  if (!request.source_if_match.empty()) {
    spec.headers.emplace_back("x-amz-copy-source-if-match",
                              "\"" + normalize_etag(request.source_if_match) + "\"");
  }
  spec.timeout = request.timeout;
  run_parsed<std::string>(
      core, std::move(spec), [](std::string_view xml) { return parse_copy_part_result(xml); },
      std::move(done));
}

void Client::complete_multipart_upload(CompleteRequest request, Callback<std::string> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "CompleteMultipartUpload";
  spec.what = describe(*core, "COMPLETE MULTIPART UPLOAD", request.bucket, request.key);
  spec.method = "POST";
  spec.bucket = std::move(request.bucket);
  spec.key = std::move(request.key);
  spec.query = {{"uploadId", std::move(request.upload_id)}};
  spec.body = build_complete_body(request.part_etags);
  spec.headers.emplace_back("content-type", "application/xml");
  if (request.if_none_match) spec.headers.emplace_back("if-none-match", "*");
  if (!request.if_match.empty())
    spec.headers.emplace_back("if-match", "\"" + normalize_etag(request.if_match) + "\"");
  spec.timeout = request.timeout;
  // Like CopyObject, a completion may answer 200 OK and still have failed.
  run_parsed<std::string>(
      core, std::move(spec), [](std::string_view xml) { return parse_complete_result(xml); },
      std::move(done));
}

void Client::abort_multipart_upload(std::string bucket, std::string key, std::string upload_id,
                                    Callback<Ok> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "AbortMultipartUpload";
  spec.what = describe(*core, "ABORT MULTIPART UPLOAD", bucket, key);
  spec.method = "DELETE";
  spec.bucket = std::move(bucket);
  spec.key = std::move(key);
  spec.query = {{"uploadId", std::move(upload_id)}};
  // An upload already gone (completed or aborted) is what was wanted.
  spec.tolerate = [](const Error& error) { return error.code == "NoSuchUpload"; };
  run_ok(core, std::move(spec), std::move(done));
}

void Client::get_object_tagging(std::string bucket, std::string key, Callback<std::string> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "GetObjectTagging";
  spec.what = describe(*core, "GET TAGGING", bucket, key);
  spec.method = "GET";
  spec.bucket = std::move(bucket);
  spec.key = std::move(key);
  spec.query = {{"tagging", ""}};
  run_parsed<std::string>(
      core, std::move(spec), [](std::string_view xml) { return parse_tagging(xml); },
      std::move(done));
}

void Client::put_object_tagging(std::string bucket, std::string key, std::string tagging,
                                Callback<Ok> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "PutObjectTagging";
  spec.what = describe(*core, "PUT TAGGING", bucket, key);
  spec.method = "PUT";
  spec.bucket = std::move(bucket);
  spec.key = std::move(key);
  spec.query = {{"tagging", ""}};
  spec.body = build_tagging_body(tagging);
  spec.headers.emplace_back("content-md5", base64_encode(md5(spec.body)));
  spec.headers.emplace_back("content-type", "application/xml");
  run_ok(core, std::move(spec), std::move(done));
}

void Client::delete_object(std::string bucket, DeleteTarget target, Callback<Ok> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "DeleteObject";
  spec.what = describe(*core, "DELETE", bucket, target.key);
  spec.method = "DELETE";
  spec.bucket = std::move(bucket);
  spec.key = std::move(target.key);
  if (!target.etag.empty()) spec.headers.emplace_back("if-match", "\"" + target.etag + "\"");
  run_ok(core, std::move(spec), std::move(done));
}

void Client::get_bucket_versioning(std::string bucket, Callback<std::string> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "GetBucketVersioning";
  spec.what = describe(*core, "GET VERSIONING", bucket, {});
  spec.method = "GET";
  spec.bucket = std::move(bucket);
  spec.query = {{"versioning", ""}};
  run_parsed<std::string>(
      core, std::move(spec), [](std::string_view xml) { return parse_versioning(xml); },
      std::move(done));
}

void Client::delete_objects(std::string bucket, std::vector<DeleteTarget> keys,
                            Callback<DeleteResult> done) {
  auto& core = impl_->core;
  std::string what =
      describe(*core, "DELETE", bucket, {}) + " (" + std::to_string(keys.size()) + " keys)";
  if (keys.empty()) {
    // S3 refuses an empty <Delete>; there is nothing to ask it.
    core->loop.after(std::chrono::milliseconds(0),
                     [done = std::move(done)] { done(DeleteResult{}); });
    return;
  }
  if (keys.size() > kMaxDeleteKeys) {
    Error error;
    error.kind = ErrorKind::kInvalidInput;
    error.message = what + ": DeleteObjects takes at most 1000 keys per request";
    ++core->stats.failures;
    return fail_later(core->loop, std::move(done), std::move(error));
  }
  ExchangeSpec spec;
  spec.operation = "DeleteObjects";
  spec.what = std::move(what);
  spec.method = "POST";
  spec.bucket = std::move(bucket);
  spec.query = {{"delete", ""}};
  spec.body = build_delete_body(keys);
  spec.headers.emplace_back("content-md5", base64_encode(md5(spec.body)));
  spec.headers.emplace_back("content-type", "application/xml");
  run_parsed<DeleteResult>(
      core, std::move(spec), [](std::string_view xml) { return parse_delete_result(xml); },
      std::move(done));
}

void Client::create_bucket(std::string bucket, Callback<Ok> done) {
  auto& core = impl_->core;
  ExchangeSpec spec;
  spec.operation = "CreateBucket";
  spec.what = describe(*core, "CREATE BUCKET", bucket, {});
  spec.method = "PUT";
  spec.bucket = std::move(bucket);
  const std::string& region = core->config.endpoint.region;
  if (!region.empty() && region != "us-east-1") {
    spec.body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        xml_escape(region) + "</LocationConstraint></CreateBucketConfiguration>";
  }
  spec.tolerate = [](const Error& error) { return error.code == "BucketAlreadyOwnedByYou"; };
  run_ok(core, std::move(spec), std::move(done));
}

void Client::observe(RequestObserver* observer) { impl_->core->observer = observer; }

const ClientStats& Client::stats() const { return impl_->core->stats; }
const ClientConfig& Client::config() const { return impl_->core->config; }

}  // namespace rehome::s3
