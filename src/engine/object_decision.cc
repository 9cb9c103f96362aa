#include "engine/object_decision.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace rehome::engine {

namespace {

bool is_hex_digest(std::string_view etag) {
  return etag.size() == 32 &&
         std::all_of(etag.begin(), etag.end(), [](unsigned char c) { return std::isxdigit(c); });
}

}  // namespace

bool is_multipart_etag(std::string_view etag) { return etag.find('-') != std::string_view::npos; }

bool has_md5_etag(const s3::ObjectInfo& object) {
  // SSE-S3 (AES256) keeps the MD5 ETag; SSE-KMS, DSSE-KMS and SSE-C do not.
  const bool opaque_encryption =
      object.encryption.starts_with("aws:kms") || object.encryption == "SSE-C";
  return object.described && !opaque_encryption && is_hex_digest(object.etag);
}

Identity compare(const s3::ObjectInfo& legacy, const s3::ObjectInfo& twin) {
  if (legacy.size != twin.size) return {Sameness::kDifferent, "size"};
  if (legacy.checksum && twin.checksum && legacy.checksum->algorithm == twin.checksum->algorithm) {
    return {legacy.checksum->value == twin.checksum->value ? Sameness::kSame : Sameness::kDifferent,
            "checksum"};
  }
  if (!legacy.etag.empty() && legacy.etag == twin.etag) return {Sameness::kSame, "ETag"};
  const bool marked = !twin.copied_from_etag.empty();
  // Two MD5s outrank the mark: a copy marked with the ETag it was asked for may hold what the
  // legacy key held a moment later (radosgw ignores x-amz-copy-source-if-match).
  if (has_md5_etag(legacy) && has_md5_etag(twin))
    return {Sameness::kDifferent, "MD5 ETags", marked};
  if (marked) {
    if (twin.copied_from_etag == legacy.etag) return {Sameness::kSame, "rehome's mark"};
    return {Sameness::kDifferent, "rehome's mark", true};
  }
  return {Sameness::kUnproven, ""};
}

ObjectAction decide(const s3::ObjectInfo& legacy, const std::optional<s3::ObjectInfo>& production) {
  if (!production) return ObjectAction::kCopy;
  switch (compare(legacy, *production).verdict) {
    case Sameness::kSame: return ObjectAction::kAlreadyCopied;
    case Sameness::kDifferent: return ObjectAction::kConflict;
    case Sameness::kUnproven: break;
  }
  return legacy.described && production->described ? ObjectAction::kConflict
                                                   : ObjectAction::kLookCloser;
}

std::string describe_difference(const s3::ObjectInfo& legacy, const s3::ObjectInfo& twin,
                                const Identity& identity, std::string_view twin_uri) {
  std::string sides = fmt::format("(ETag {} size {}, legacy ETag {} size {})", twin.etag, twin.size,
                                  legacy.etag, legacy.size);
  if (identity.verdict == Sameness::kUnproven) {
    return fmt::format(
        "{} may hold different content {}: its ETag is not an MD5 of the bytes (SSE-KMS, SSE-C "
        "or multipart), the two have no checksum to compare and it carries no rehome mark; "
        "compare them, then delete the twin for rehome to copy again or rewrite the rows "
        "yourself",
        twin_uri, sides);
  }
  if (identity.own_older_copy) {
    return fmt::format(
        "{} is rehome's copy of an older version of the legacy object {}: the "
        "legacy object changed after it was copied",
        twin_uri, sides);
  }
  return fmt::format("{} holds different content {}", twin_uri, sides);
}

}  // namespace rehome::engine
