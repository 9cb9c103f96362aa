#include "engine/object_decision.h"

namespace rehome::engine {

bool is_multipart_etag(std::string_view etag) { return etag.find('-') != std::string_view::npos; }

bool same_content(const s3::ObjectInfo& a, const s3::ObjectInfo& b) {
  return a.size == b.size && !a.etag.empty() && a.etag == b.etag;
}

ObjectAction decide(const s3::ObjectInfo& legacy, const std::optional<s3::ObjectInfo>& production) {
  if (!production) return ObjectAction::kCopy;
  return same_content(legacy, *production) ? ObjectAction::kAlreadyCopied : ObjectAction::kConflict;
}

}  // namespace rehome::engine
