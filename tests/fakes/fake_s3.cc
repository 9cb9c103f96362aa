#include "fake_s3.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "s3/xml.h"
#include "util/crypto.h"

namespace rehome::fakes {

namespace {

Error http_error(ErrorKind kind, long status, const char* code, const std::string& key) {
  Error e = Error::of(kind, fmt::format("{}: {} {}", key, status, code), code);
  e.http_status = status;
  return e;
}

// A KMS object's copy gets a new ETag; any other keeps its source's (a single-part MD5, or
// the multipart ETag, as radosgw does; tests set copy_etag for AWS's new single-part one).
bool is_encrypted_etag(const FakeS3::Object& object) { return !object.encryption.empty(); }

}  // namespace

Error not_found(const std::string& key) {
  return http_error(ErrorKind::kNotFound, 404, "NoSuchKey", key);
}
Error access_denied(const std::string& key) {
  return http_error(ErrorKind::kAccessDenied, 403, "AccessDenied", key);
}
Error precondition_failed(const std::string& key) {
  return http_error(ErrorKind::kPreconditionFailed, 412, "PreconditionFailed", key);
}
Error forbidden(const std::string& key, const char* code) {
  return http_error(ErrorKind::kAccessDenied, 403, code, key);
}
Error throttled(const std::string& key) {
  return http_error(ErrorKind::kThrottled, 503, "SlowDown", key);
}

s3::Checksum fake_checksum(const std::string& body, const char* algorithm) {
  return s3::Checksum{algorithm, base64_encode(md5(body)).substr(0, 8)};
}

void FakeS3::put(const std::string& bucket, const std::string& key, std::string body,
                 std::optional<std::string> etag) {
  Object o;
  o.body = std::move(body);
  o.content_type = "image/png";
  if (dialect.stores_checksums) o.checksum = fake_checksum(o.body);
  store(bucket, key, std::move(o), std::move(etag));
}

void FakeS3::store(const std::string& bucket, const std::string& key, Object object,
                   std::optional<std::string> etag) {
  ++writes_;
  object.etag = etag ? *etag : to_hex(md5(object.body));
  const bool kms = std::find(dialect.kms_buckets.begin(), dialect.kms_buckets.end(), bucket) !=
                   dialect.kms_buckets.end();
  if (kms) {
    // Not the MD5 of the bytes, and new on every write, as SSE-KMS ETags are.
    object.etag = to_hex(md5(object.body + "#kms#" + std::to_string(writes_)));
    object.encryption = "aws:kms";
  } else {
    object.encryption.clear();
  }
  buckets_[bucket][key] = std::move(object);
}

std::optional<FakeS3::Object> FakeS3::object(const std::string& bucket,
                                             const std::string& key) const {
  auto b = buckets_.find(bucket);
  if (b == buckets_.end()) return std::nullopt;
  auto o = b->second.find(key);
  if (o == b->second.end()) return std::nullopt;
  return o->second;
}

void FakeS3::set_headers(const std::string& bucket, const std::string& key,
                         std::string content_type, http::Headers metadata) {
  auto& o = buckets_.at(bucket).at(key);
  o.content_type = std::move(content_type);
  o.metadata = std::move(metadata);
}

void FakeS3::remove(const std::string& bucket, const std::string& key) {
  buckets_[bucket].erase(key);
}

std::vector<std::string> FakeS3::keys(const std::string& bucket) const {
  std::vector<std::string> out;
  if (auto b = buckets_.find(bucket); b != buckets_.end()) {
    for (const auto& [key, object] : b->second) out.push_back(key);
  }
  return out;
}

void FakeS3::fail(Op op, const std::string& key, Error error, int times) {
  faults_.push_back(Fault{op, key, std::move(error), times});
}

void FakeS3::before(Op op, std::function<void(const std::string& key)> hook) {
  hooks_.emplace(op, std::move(hook));
}

void FakeS3::hold(const std::string& key) { holding_[key] = true; }

void FakeS3::release(const std::string& key) {
  holding_.erase(key);
  std::vector<std::function<void()>> ready;
  auto it = held_.begin();
  while (it != held_.end()) {
    if (it->first == key) {
      ready.push_back(std::move(it->second));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& answer : ready) deliver("", std::move(answer));
}

void FakeS3::release_all() {
  holding_.clear();
  auto held = std::move(held_);
  held_.clear();
  for (auto& [key, answer] : held) deliver("", std::move(answer));
}

std::size_t FakeS3::held() const { return held_.size(); }

std::size_t FakeS3::calls(Op op) const {
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

std::optional<Error> FakeS3::take_fault(Op op, const std::string& key) {
  ++calls_[op];
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->op == op && it->key == key) {
      Error e = it->error;
      if (--it->times <= 0) faults_.erase(it);
      return e;
    }
  }
  return std::nullopt;
}

void FakeS3::run_hooks(Op op, const std::string& key) {
  auto [first, last] = hooks_.equal_range(op);
  // Copied first: a hook may add hooks.
  std::vector<std::function<void(const std::string&)>> hooks;
  for (auto it = first; it != last; ++it) hooks.push_back(it->second);
  for (auto& hook : hooks) hook(key);
}

void FakeS3::deliver(const std::string& key, std::function<void()> answer) {
  if (!key.empty() && holding_.contains(key)) {
    held_.emplace_back(key, std::move(answer));
  } else if (loop_ != nullptr) {
    loop_->after(std::chrono::milliseconds(0), std::move(answer));
  } else {
    answer();
  }
}

s3::ObjectInfo FakeS3::info(const std::string& key, const Object& object) const {
  s3::ObjectInfo out;
  out.key = key;
  out.etag = object.etag;
  out.size = static_cast<std::int64_t>(object.body.size());
  out.last_modified = "2026-12-03T00:00:00.000Z";
  out.content_type = object.content_type;
  out.storage_class = object.storage_class;
  return out;
}

// What HEAD and GET say: everything a listing does not.
s3::ObjectInfo FakeS3::described(const std::string& key, const Object& object) const {
  s3::ObjectInfo out = info(key, object);
  out.described = true;
  out.encryption = object.encryption;
  out.checksum = object.checksum;
  if (!object.tagging.empty()) {
    out.tag_count =
        1 + static_cast<int>(std::count(object.tagging.begin(), object.tagging.end(), '&'));
  }
  for (const auto& [name, value] : object.metadata) {
    if (name == s3::kCopiedFromHeader) {
      out.copied_from_etag = value;
    } else {
      out.metadata.emplace_back(name, value);
    }
  }
  return out;
}

void FakeS3::list_objects_v2(s3::ListRequest request, s3::Callback<s3::ListPage> done) {
  run_hooks(Op::kList, request.prefix);
  if (auto e = take_fault(Op::kList, request.prefix)) {
    return deliver(request.prefix, [done, e = *e] { done(e); });
  }
  s3::ListPage page;
  const std::string& after =
      request.continuation_token.empty() ? request.start_after : request.continuation_token;
  const auto& bucket = buckets_[request.bucket];
  for (auto it = bucket.upper_bound(after); it != bucket.end(); ++it) {
    if (!it->first.starts_with(request.prefix)) {
      if (it->first > request.prefix) break;  // Past every key under the prefix.
      continue;
    }
    if (static_cast<int>(page.objects.size()) == request.max_keys) {
      page.truncated = true;
      page.next_continuation_token = page.objects.back().key;
      break;
    }
    page.objects.push_back(info(it->first, it->second));
  }
  deliver(request.prefix, [done, page = std::move(page)] { done(page); });
}

void FakeS3::head_object(std::string bucket, std::string key, s3::Callback<s3::ObjectInfo> done) {
  run_hooks(Op::kHead, key);
  if (auto e = take_fault(Op::kHead, key)) return deliver(key, [done, e = *e] { done(e); });
  auto o = object(bucket, key);
  if (!o) return deliver(key, [done, key] { done(not_found(key)); });
  deliver(key, [done, i = described(key, *o)] { done(i); });
}

void FakeS3::get_object(s3::GetRequest request, s3::Callback<s3::GetResult> done) {
  run_hooks(Op::kGet, request.key);
  const std::string key = request.key;
  if (auto e = take_fault(Op::kGet, key)) return deliver(key, [done, e = *e] { done(e); });
  auto o = object(request.bucket, key);
  if (!o) return deliver(key, [done, key] { done(not_found(key)); });
  if (!request.if_match.empty() && request.if_match != o->etag) {
    return deliver(key, [done, key] { done(precondition_failed(key)); });
  }
  s3::GetResult result;
  result.info = described(key, *o);
  std::string body = o->body;
  if (request.range_first >= 0) {
    const auto first = static_cast<std::size_t>(request.range_first);
    const auto last = static_cast<std::size_t>(request.range_last);
    body = first < body.size() ? body.substr(first, last - first + 1) : std::string();
  }
  largest_body_ = std::max(largest_body_, body.size());
  if (request.body_sink) {
    request.body_sink(body);
  } else {
    result.body = std::move(body);
  }
  deliver(key, [done, result = std::move(result)] { done(result); });
}

void FakeS3::put_object(s3::PutRequest request, s3::Callback<s3::ObjectInfo> done) {
  run_hooks(Op::kPut, request.key);
  const std::string key = request.key;
  if (auto e = take_fault(Op::kPut, key)) return deliver(key, [done, e = *e] { done(e); });
  auto existing = object(request.bucket, key);
  if (auto refused = refuse_write(request.if_none_match, request.if_match, existing, key)) {
    return deliver(key, [done, e = *refused] { done(e); });
  }
  if (!request.content_md5_base64.empty() &&
      request.content_md5_base64 != base64_encode(md5(request.body))) {
    Error e = http_error(ErrorKind::kPermanent, 400, "BadDigest", key);
    return deliver(key, [done, e] { done(e); });
  }
  if (existing) ++overwrites_;
  largest_body_ = std::max(largest_body_, request.body.size());
  Object o;
  o.tagging = request.tagging;
  o.body = std::move(request.body);
  o.content_type = request.content_type;
  o.metadata = std::move(request.metadata);
  o.acl = request.acl;
  o.storage_class = request.storage_class;
  if (dialect.stores_checksums) o.checksum = fake_checksum(o.body);
  store(request.bucket, key, std::move(o), std::nullopt);
  deliver(key, [done, i = info(key, *object(request.bucket, key))] { done(i); });
}

std::optional<Error> FakeS3::refuse_write(bool if_none_match, const std::string& if_match,
                                          const std::optional<Object>& existing,
                                          const std::string& key) const {
  if (if_none_match && existing && dialect.honours_if_none_match) return precondition_failed(key);
  if (!if_match.empty() && dialect.honours_if_match) {
    if (!existing) return not_found(key);
    if (existing->etag != if_match) return precondition_failed(key);
  }
  return std::nullopt;
}

void FakeS3::copy_object(s3::CopyRequest request, s3::Callback<s3::CopyResult> done) {
  run_hooks(Op::kCopy, request.key);
  copies.push_back(request);
  const std::string key = request.key;
  if (auto e = take_fault(Op::kCopy, key)) return deliver(key, [done, e = *e] { done(e); });
  auto source = object(request.source_bucket, request.source_key);
  if (!source) return deliver(key, [done, s = request.source_key] { done(not_found(s)); });
  auto existing = object(request.bucket, key);
  if (auto refused = refuse_write(request.if_none_match, request.if_match, existing, key)) {
    return deliver(key, [done, e = *refused] { done(e); });
  }
  if (!request.source_if_match.empty() && request.source_if_match != source->etag &&
      dialect.honours_copy_source_if_match) {
    return deliver(key, [done, key] { done(precondition_failed(key)); });
  }
  if (existing) ++overwrites_;
  Object copy = *source;
  if (request.replace_metadata) {
    copy.metadata.clear();
    copy.content_type.clear();
    for (const auto& [name, value] : *request.replace_metadata) {
      if (name == "content-type") {
        copy.content_type = value;
      } else {
        copy.metadata.emplace_back(name, value);
      }
    }
  }
  copy.acl = request.acl;
  copy.storage_class = request.storage_class;
  if (dialect.stores_checksums && !copy.checksum)
    copy.checksum = fake_checksum(copy.body, "CRC64NVME");
  std::optional<std::string> etag;
  if (copy_etag)
    etag = copy_etag(*source);
  else if (!is_encrypted_etag(*source))
    etag = source->etag;
  store(request.bucket, key, std::move(copy), etag);
  s3::CopyResult result;
  result.etag = object(request.bucket, key)->etag;
  deliver(key, [done, result] { done(result); });
}

bool FakeS3::delete_condition_holds(const std::string& bucket, const s3::DeleteTarget& target) {
  if (target.etag.empty() || !dialect.honours_if_match) return true;
  auto o = object(bucket, target.key);
  return o && o->etag == target.etag;
}

void FakeS3::delete_objects(std::string bucket, std::vector<s3::DeleteTarget> targets,
                            s3::Callback<s3::DeleteResult> done) {
  const std::string first = targets.empty() ? std::string() : targets.front().key;
  run_hooks(Op::kDelete, first);
  if (auto e = take_fault(Op::kDelete, first)) return deliver(first, [done, e = *e] { done(e); });
  ++delete_requests_;
  s3::DeleteResult result;
  for (auto& target : targets) {
    if (!delete_condition_holds(bucket, target)) {
      result.errors.push_back({target.key, "PreconditionFailed",
                               "At least one of the "
                               "pre-conditions you specified "
                               "did not hold"});
      continue;
    }
    buckets_[bucket].erase(target.key);
    result.deleted.push_back(std::move(target.key));
  }
  deliver(first, [done, result = std::move(result)] { done(result); });
}

void FakeS3::create_multipart_upload(s3::PutRequest request, s3::Callback<std::string> done) {
  run_hooks(Op::kCreateUpload, request.key);
  const std::string key = request.key;
  if (auto e = take_fault(Op::kCreateUpload, key)) return deliver(key, [done, e = *e] { done(e); });
  Upload upload;
  upload.bucket = request.bucket;
  upload.key = key;
  upload.headers.content_type = request.content_type;
  upload.headers.metadata = std::move(request.metadata);
  upload.headers.acl = request.acl;
  upload.headers.storage_class = request.storage_class;
  if (!multipart_drops_tagging) upload.headers.tagging = request.tagging;
  const std::string id = "upload-" + std::to_string(++writes_);
  uploads_[id] = std::move(upload);
  deliver(key, [done, id] { done(id); });
}

void FakeS3::upload_part(s3::UploadPartRequest request, s3::Callback<std::string> done) {
  run_hooks(Op::kUploadPart, request.key);
  const std::string key = request.key;
  if (auto e = take_fault(Op::kUploadPart, key)) return deliver(key, [done, e = *e] { done(e); });
  auto it = uploads_.find(request.upload_id);
  if (it == uploads_.end()) {
    return deliver(
        key, [done, key] { done(http_error(ErrorKind::kNotFound, 404, "NoSuchUpload", key)); });
  }
  largest_body_ = std::max(largest_body_, request.body.size());
  std::string etag = to_hex(md5(request.body));
  it->second.parts[request.part_number] = std::move(request.body);
  deliver(key, [done, etag] { done(etag); });
}

void FakeS3::upload_part_copy(s3::UploadPartCopyRequest request, s3::Callback<std::string> done) {
  run_hooks(Op::kUploadPartCopy, request.key);
  const std::string key = request.key;
  if (auto e = take_fault(Op::kUploadPartCopy, key)) {
    return deliver(key, [done, e = *e] { done(e); });
  }
  auto it = uploads_.find(request.upload_id);
  if (it == uploads_.end()) {
    return deliver(
        key, [done, key] { done(http_error(ErrorKind::kNotFound, 404, "NoSuchUpload", key)); });
  }
  auto source = object(request.source_bucket, request.source_key);
  if (!source) return deliver(key, [done, s = request.source_key] { done(not_found(s)); });
  if (!request.source_if_match.empty() && request.source_if_match != source->etag &&
      dialect.honours_copy_source_if_match) {
    return deliver(key, [done, key] { done(precondition_failed(key)); });
  }
  const auto size = static_cast<std::int64_t>(source->body.size());
  if (request.range_first < 0 || request.range_last < request.range_first ||
      request.range_last >= size) {
    return deliver(
        key, [done, key] { done(http_error(ErrorKind::kPermanent, 416, "InvalidRange", key)); });
  }
  std::string part =
      source->body.substr(static_cast<std::size_t>(request.range_first),
                          static_cast<std::size_t>(request.range_last - request.range_first + 1));
  std::string etag = to_hex(md5(part));
  it->second.parts[request.part_number] = std::move(part);
  ++part_copies_;
  deliver(key, [done, etag] { done(etag); });
}

void FakeS3::complete_multipart_upload(s3::CompleteRequest request,
                                       s3::Callback<std::string> done) {
  run_hooks(Op::kComplete, request.key);
  const std::string key = request.key;
  if (auto e = take_fault(Op::kComplete, key)) return deliver(key, [done, e = *e] { done(e); });
  auto it = uploads_.find(request.upload_id);
  if (it == uploads_.end()) {
    return deliver(
        key, [done, key] { done(http_error(ErrorKind::kNotFound, 404, "NoSuchUpload", key)); });
  }
  auto existing = object(request.bucket, key);
  if (auto refused = refuse_write(request.if_none_match, request.if_match, existing, key)) {
    return deliver(key, [done, e = *refused] { done(e); });
  }
  // As S3: the list names every part in order by its ETag, and every part but the last holds
  // at least 5 MiB.
  const auto& parts = it->second.parts;
  bool listed = request.part_etags.size() == parts.size();
  std::size_t n = 0;
  for (const auto& [number, body] : parts) {
    listed = listed && number == static_cast<int>(n + 1) &&
             s3::normalize_etag(request.part_etags[n]) == to_hex(md5(body));
    if (++n < parts.size() && body.size() < 5u * 1024 * 1024) {
      return deliver(key, [done, key] {
        done(http_error(ErrorKind::kPermanent, 400, "EntityTooSmall", key));
      });
    }
  }
  if (!listed) {
    return deliver(
        key, [done, key] { done(http_error(ErrorKind::kPermanent, 400, "InvalidPart", key)); });
  }
  Object o = it->second.headers;
  std::string digests;
  for (const auto& [number, body] : it->second.parts) {
    o.body += body;
    digests += md5(body);
  }
  if (existing) ++overwrites_;
  if (dialect.stores_checksums) o.checksum = fake_checksum(o.body);
  const std::string etag = to_hex(md5(digests)) + "-" + std::to_string(it->second.parts.size());
  uploads_.erase(it);
  store(request.bucket, key, std::move(o), etag);
  const std::string answered = complete_without_etag ? "" : object(request.bucket, key)->etag;
  if (complete_answer_lost) {
    return deliver(key, [done] { done(Error::transient("connection reset by peer")); });
  }
  deliver(key, [done, answered] { done(answered); });
}

void FakeS3::abort_multipart_upload(std::string, std::string key, std::string upload_id,
                                    s3::Callback<Ok> done) {
  run_hooks(Op::kAbort, key);
  if (auto e = take_fault(Op::kAbort, key)) return deliver(key, [done, e = *e] { done(e); });
  uploads_.erase(upload_id);
  deliver(key, [done] { done(Ok{}); });
}

void FakeS3::get_object_tagging(std::string bucket, std::string key,
                                s3::Callback<std::string> done) {
  run_hooks(Op::kTagging, key);
  if (auto e = take_fault(Op::kTagging, key)) return deliver(key, [done, e = *e] { done(e); });
  auto o = object(bucket, key);
  if (!o) return deliver(key, [done, key] { done(not_found(key)); });
  deliver(key, [done, tags = o->tagging] { done(tags); });
}

void FakeS3::put_object_tagging(std::string bucket, std::string key, std::string tagging,
                                s3::Callback<Ok> done) {
  run_hooks(Op::kPutTagging, key);
  if (auto e = take_fault(Op::kPutTagging, key)) return deliver(key, [done, e = *e] { done(e); });
  auto b = buckets_.find(bucket);
  if (b == buckets_.end() || !b->second.contains(key)) {
    return deliver(key, [done, key] { done(not_found(key)); });
  }
  b->second[key].tagging = std::move(tagging);
  deliver(key, [done] { done(Ok{}); });
}

void FakeS3::delete_object(std::string bucket, s3::DeleteTarget target, s3::Callback<Ok> done) {
  const std::string key = target.key;
  run_hooks(Op::kDelete, key);
  if (auto e = take_fault(Op::kDelete, key)) return deliver(key, [done, e = *e] { done(e); });
  if (!delete_condition_holds(bucket, target)) {
    return deliver(key, [done] {
      done(Error::of(ErrorKind::kPreconditionFailed, "precondition failed", "PreconditionFailed"));
    });
  }
  buckets_[bucket].erase(key);
  deliver(key, [done] { done(Ok{}); });
}

}  // namespace rehome::fakes
