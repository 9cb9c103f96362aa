// S3's XML documents. Parsing is a table per document: "at this path, keep this text", on top
// of the streaming reader in xml_reader.h. Any document can turn out to be an <Error> (S3 may
// answer 200 OK to a CopyObject and fail it afterwards), so each parser checks the root first.
#include "s3/xml.h"

#include <charconv>
#include <cstdint>
#include <optional>

#include "s3/errors.h"
#include "s3/xml_reader.h"
#include "util/uri.h"

namespace rehome::s3 {

namespace {

// A body that does not parse is most often a cut connection: worth another try.
Error malformed(std::string_view document, const std::string& why) {
  Error error;
  error.kind = ErrorKind::kTransient;
  error.message = "malformed " + std::string(document) + " response: " + why;
  error.http_status = 200;
  return error;
}

// An <Error> document in a 2xx answer: classified like any other S3 error.
Error error_document(std::string_view xml) {
  http::Response response;
  response.status = 200;
  response.body = std::string(xml);
  return make_error({}, response, {});
}

// Checks what read_xml found at the root; nullopt when it is `expected`.
std::optional<Error> check_document(std::string_view xml, const std::string& read_failure,
                                    const std::string& root, std::string_view expected) {
  if (!read_failure.empty()) return malformed(expected, read_failure);
  if (root == "Error") return error_document(xml);
  if (root != expected) {
    Error error;
    error.kind = ErrorKind::kPermanent;
    error.message = "expected a " + std::string(expected) + " document, got <" + root + ">";
    error.http_status = 200;
    return error;
  }
  return std::nullopt;
}

bool parse_size(std::string_view text, std::int64_t& out) {
  auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  return result.ec == std::errc{} && result.ptr == text.data() + text.size() && out >= 0;
}

// Decodes a length-`n` UTF-8 sequence's code point, or returns -1 when it is malformed
// (truncated, overlong, surrogate, beyond U+10FFFF).
long decode_utf8(std::string_view text, std::size_t i, std::size_t& n) {
  auto lead = static_cast<unsigned char>(text[i]);
  long cp = 0;
  long min = 0;
  if (lead < 0x80) {
    n = 1;
    return lead;
  }
  if ((lead & 0xE0) == 0xC0) {
    n = 2;
    cp = lead & 0x1F;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    n = 3;
    cp = lead & 0x0F;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    n = 4;
    cp = lead & 0x07;
    min = 0x10000;
  } else
    return -1;
  if (i + n > text.size()) return -1;
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(text[i + k]);
    if ((c & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return cp;
}

// XML 1.0's Char production.
bool is_xml_char(long cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

}  // namespace

Result<ListPage> parse_list_page(std::string_view xml, bool url_encoded) {
  ListPage page;
  std::string root;
  std::string bad_field;  // First field that failed to parse, for the message.
  bool missing_key = false;
  bool encoded_by_server = false;

  XmlEvents events;
  events.on_open = [&](const XmlPath& path) {
    if (path.size() == 1) root = path[0];
    if (path_is(path, {"ListBucketResult", "Contents"})) page.objects.emplace_back();
  };
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path.size() == 3 && path[1] == "Contents" && path[0] == "ListBucketResult") {
      auto& object = page.objects.back();
      if (path[2] == "Key")
        object.key = text;
      else if (path[2] == "ETag")
        object.etag = normalize_etag(text);
      else if (path[2] == "LastModified")
        object.last_modified = text;
      else if (path[2] == "Size" && !parse_size(text, object.size) && bad_field.empty())
        bad_field = "Size \"" + std::string(text) + "\"";
    } else if (path_is(path, {"ListBucketResult", "Contents"})) {
      missing_key = missing_key || page.objects.back().key.empty();
    } else if (path_is(path, {"ListBucketResult", "IsTruncated"})) {
      page.truncated = text == "true";
    } else if (path_is(path, {"ListBucketResult", "NextContinuationToken"})) {
      page.next_continuation_token = text;
    } else if (path_is(path, {"ListBucketResult", "EncodingType"})) {
      encoded_by_server = text == "url";
    }
  };

  auto failure = read_xml(xml, events);
  if (auto error = check_document(xml, failure, root, "ListBucketResult")) return *error;
  if (!bad_field.empty()) return malformed("ListBucketResult", "bad " + bad_field);
  if (missing_key) return malformed("ListBucketResult", "an entry has no Key");

  // AWS encodes a space as '+' and a '+' as %2B (radosgw: %20 and %2B), so '+' decodes to a
  // space. Only keys the server says it encoded are decoded: s3rver ignores encoding-type
  // and a raw "a+b%20c" must stay as it is.
  if (url_encoded && encoded_by_server) {
    for (auto& object : page.objects) object.key = uri_decode(object.key, /*plus_is_space=*/true);
  }
  return page;
}

namespace {

// CopyObject and UploadPartCopy answer the same shape under different roots.
Result<CopyResult> parse_copy_answer(std::string_view xml, std::string_view root_name) {
  CopyResult result;
  std::string root;
  XmlEvents events;
  events.on_open = [&](const XmlPath& path) {
    if (path.size() == 1) root = path[0];
  };
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path.size() != 2 || path[0] != root_name) return;
    if (path[1] == "ETag") result.etag = normalize_etag(text);
    if (path[1] == "LastModified") result.last_modified = text;
  };

  auto failure = read_xml(xml, events);
  if (auto error = check_document(xml, failure, root, root_name)) return *error;
  if (result.etag.empty()) {
    Error error;
    error.kind = ErrorKind::kPermanent;
    error.message = std::string(root_name) + " without an ETag: the copy cannot be verified";
    error.http_status = 200;
    return error;
  }
  return result;
}

}  // namespace

Result<CopyResult> parse_copy_result(std::string_view xml) {
  return parse_copy_answer(xml, "CopyObjectResult");
}

Result<std::string> parse_copy_part_result(std::string_view xml) {
  auto parsed = parse_copy_answer(xml, "CopyPartResult");
  if (!parsed) return parsed.error();
  return std::move(parsed->etag);
}

Result<DeleteResult> parse_delete_result(std::string_view xml) {
  DeleteResult result;
  std::string root;
  XmlEvents events;
  events.on_open = [&](const XmlPath& path) {
    if (path.size() == 1) root = path[0];
    if (path_is(path, {"DeleteResult", "Error"})) result.errors.emplace_back();
  };
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path_is(path, {"DeleteResult", "Deleted", "Key"})) {
      result.deleted.emplace_back(text);
    } else if (path.size() == 3 && path[0] == "DeleteResult" && path[1] == "Error") {
      auto& error = result.errors.back();
      if (path[2] == "Key")
        error.key = text;
      else if (path[2] == "Code")
        error.code = text;
      else if (path[2] == "Message")
        error.message = text;
    }
  };

  auto failure = read_xml(xml, events);
  if (auto error = check_document(xml, failure, root, "DeleteResult")) return *error;
  return result;
}

namespace {

// The text of <root><field>, in a document that must have that root ("" when it lacks the
// field).
Result<std::string> parse_field(std::string_view xml, const char* root_name, const char* field) {
  std::string root, value;
  XmlEvents events;
  events.on_open = [&](const XmlPath& path) {
    if (path.size() == 1) root = path[0];
  };
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path_is(path, {root_name, field})) value = text;
  };
  auto failure = read_xml(xml, events);
  if (auto error = check_document(xml, failure, root, root_name)) return *error;
  return value;
}

}  // namespace

Result<std::string> parse_upload_id(std::string_view xml) {
  auto upload_id = parse_field(xml, "InitiateMultipartUploadResult", "UploadId");
  if (upload_id && upload_id->empty()) {
    return Error::permanent("InitiateMultipartUploadResult without an UploadId");
  }
  return upload_id;
}

Result<std::string> parse_complete_result(std::string_view xml) {
  auto etag = parse_field(xml, "CompleteMultipartUploadResult", "ETag");
  if (!etag) return etag;
  return normalize_etag(*etag);
}

std::string build_complete_body(const std::vector<std::string>& part_etags) {
  std::string body = "<CompleteMultipartUpload>";
  for (std::size_t i = 0; i < part_etags.size(); ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>&quot;" +
            xml_escape(normalize_etag(part_etags[i])) + "&quot;</ETag></Part>";
  }
  return body + "</CompleteMultipartUpload>";
}

Result<std::string> parse_tagging(std::string_view xml) {
  std::string root, query, key, value;
  XmlEvents events;
  events.on_open = [&](const XmlPath& path) {
    if (path.size() == 1) root = path[0];
    if (path_is(path, {"Tagging", "TagSet", "Tag"})) key.clear(), value.clear();
  };
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path_is(path, {"Tagging", "TagSet", "Tag", "Key"})) {
      key = text;
    } else if (path_is(path, {"Tagging", "TagSet", "Tag", "Value"})) {
      value = text;
    } else if (path_is(path, {"Tagging", "TagSet", "Tag"})) {
      if (!query.empty()) query += '&';
      query += uri_encode(key) + "=" + uri_encode(value);
    }
  };
  auto failure = read_xml(xml, events);
  if (auto error = check_document(xml, failure, root, "Tagging")) return *error;
  return query;
}

std::string build_tagging_body(std::string_view tagging) {
  std::string body = "<Tagging><TagSet>";
  while (!tagging.empty()) {
    const auto amp = tagging.find('&');
    std::string_view pair = tagging.substr(0, amp);
    tagging = amp == std::string_view::npos ? std::string_view() : tagging.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string key = uri_decode(pair.substr(0, eq), false);
    const std::string value =
        eq == std::string_view::npos ? std::string() : uri_decode(pair.substr(eq + 1), false);
    body += "<Tag><Key>" + xml_escape(key) + "</Key><Value>" + xml_escape(value) + "</Value></Tag>";
  }
  return body + "</TagSet></Tagging>";
}

Result<std::string> parse_versioning(std::string_view xml) {
  return parse_field(xml, "VersioningConfiguration", "Status");
}

std::string build_delete_body(const std::vector<DeleteTarget>& targets) {
  static constexpr std::string_view kHead =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  static constexpr std::string_view kTail = "</Delete>";
  std::string body(kHead);
  body.reserve(kHead.size() + kTail.size() + targets.size() * 64);
  for (const auto& target : targets) {
    body += "<Object><Key>";
    body += xml_escape(target.key);
    body += "</Key>";
    if (!target.etag.empty()) body += "<ETag>&quot;" + xml_escape(target.etag) + "&quot;</ETag>";
    body += "</Object>";
  }
  body += kTail;
  return body;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          out += "&#" + std::to_string(static_cast<unsigned>(ch)) + ";";
        } else {
          out.push_back(ch);
        }
    }
  }
  return out;
}

bool xml_can_carry(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = 0;
    long cp = decode_utf8(text, i, n);
    if (cp < 0 || !is_xml_char(cp)) return false;
    i += n;
  }
  return true;
}

std::string normalize_etag(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

}  // namespace rehome::s3
