// The pure decisions about one legacy object: copy it, or is production's twin already the
// same, or does it conflict? And did a copy produce what we meant it to? Content identity is
// ETag plus size; a multipart ETag ("...-3") is not an MD5 of the content, so it is only
// compared with another ETag from the same object.
#pragma once

#include <optional>
#include <string_view>

#include "s3/types.h"

namespace rehome::engine {

enum class ObjectAction {
  kCopy,           ///< Production has no twin: copy.
  kAlreadyCopied,  ///< Production's twin has the same ETag and size: nothing to do.
  kConflict,       ///< Production's twin differs: never overwrite, report.
};

/// Decides from a legacy object and what production holds under the mapped key.
ObjectAction decide(const s3::ObjectInfo& legacy, const std::optional<s3::ObjectInfo>& production);

/// True when the ETag is a multipart upload's ("<hex>-<parts>"), which is not a content MD5.
bool is_multipart_etag(std::string_view etag);

/// True when the two describe the same bytes: same size and same (normalised) ETag.
bool same_content(const s3::ObjectInfo& a, const s3::ObjectInfo& b);

}  // namespace rehome::engine
