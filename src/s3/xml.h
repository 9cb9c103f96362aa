// S3's XML documents, parsed with expat (and built, for DeleteObjects).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

/// Parses a ListObjectsV2 result. With `url_encoded` (encoding-type=url was requested), keys,
/// and StartAfter are URL-decoded. ETags are unquoted.
Result<ListPage> parse_list_page(std::string_view xml, bool url_encoded);

/// Parses a CopyObjectResult. A body that is an <Error> document, or lacks an ETag, is an
/// error (S3 may answer 200 OK and still fail the copy).
Result<CopyResult> parse_copy_result(std::string_view xml);

/// Parses a DeleteResult: deleted keys and per-key errors.
Result<DeleteResult> parse_delete_result(std::string_view xml);

/// Builds the <Delete> request document (Quiet mode off), XML-escaping every key.
std::string build_delete_body(const std::vector<std::string>& keys);

/// Escapes &, <, >, ", ' and characters XML 1.0 cannot carry literally.
std::string xml_escape(std::string_view text);

/// Strips surrounding double quotes (and a W/ prefix) from an ETag.
std::string normalize_etag(std::string_view etag);

}  // namespace rehome::s3
