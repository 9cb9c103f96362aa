// S3's XML documents, parsed with expat (and built, for DeleteObjects).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

/// Parses a ListObjectsV2 result. With `url_encoded` (encoding-type=url was requested), keys
/// are URL-decoded when the server confirms it encoded them (<EncodingType>url</EncodingType>;
/// s3rver ignores the request and sends keys raw). ETags are unquoted.
Result<ListPage> parse_list_page(std::string_view xml, bool url_encoded);

/// Parses a CopyObjectResult. A body that is an <Error> document, or lacks an ETag, is an
/// error (S3 may answer 200 OK and still fail the copy).
Result<CopyResult> parse_copy_result(std::string_view xml);

/// UploadPartCopy's <CopyPartResult>: the part's ETag (an <Error>, or no ETag, is an error).
Result<std::string> parse_copy_part_result(std::string_view xml);

/// Parses a DeleteResult: deleted keys and per-key errors.
Result<DeleteResult> parse_delete_result(std::string_view xml);

/// Parses an InitiateMultipartUploadResult: the upload id (an error when it is missing).
Result<std::string> parse_upload_id(std::string_view xml);

/// Parses a CompleteMultipartUploadResult: the object's ETag, unquoted, which may be empty
/// (radosgw 16 sends <ETag></ETag>). An <Error> document is an error even in a 200 answer:
/// S3 reports a failed completion that way.
Result<std::string> parse_complete_result(std::string_view xml);

/// Builds the <CompleteMultipartUpload> document naming the parts' ETags in order (part 1
/// first).
std::string build_complete_body(const std::vector<std::string>& part_etags);

/// Parses a GetObjectTagging <Tagging> document into the form x-amz-tagging takes
/// ("k1=v1&k2=v2", URL-encoded); empty when there are no tags.
Result<std::string> parse_tagging(std::string_view xml);

/// Builds the PutObjectTagging <Tagging> document from the x-amz-tagging form.
std::string build_tagging_body(std::string_view tagging);

/// Builds the <Delete> request document (Quiet mode off), XML-escaping every key. Keys that
/// fail xml_can_carry are still written (as character references), but a server may refuse
/// the whole batch with 400 MalformedXML: keep them out of batches.
std::string build_delete_body(const std::vector<DeleteTarget>& targets);
/// The <Status> of a GetBucketVersioning answer: "Enabled", "Suspended" or "" (never enabled).
Result<std::string> parse_versioning(std::string_view xml);

/// Escapes &, <, >, ", ' and characters XML 1.0 cannot carry literally: tab, LF and CR become
/// &#9; &#10; &#13; (S3's documented form, which survives end-of-line normalisation), other
/// control characters &#N; too, although XML 1.0 forbids them even as references (see
/// xml_can_carry). Other bytes, including invalid UTF-8, are copied as they are.
std::string xml_escape(std::string_view text);

/// True when `text` is valid UTF-8 made only of characters XML 1.0 allows (no control
/// characters other than tab, LF, CR). A key that fails cannot travel in a DeleteObjects
/// document: delete it with a single-object request, whose key is in the URL.
bool xml_can_carry(std::string_view text);

/// Strips surrounding double quotes (and a W/ prefix) from an ETag.
std::string normalize_etag(std::string_view etag);

}  // namespace rehome::s3
