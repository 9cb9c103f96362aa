#include "s3/xml.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "s3/xml_reader.h"
#include "util/uri.h"

namespace rehome::s3 {
namespace {

const std::string kXmlHead = R"(<?xml version="1.0" encoding="UTF-8"?>)";
const std::string kNs = R"( xmlns="http://s3.amazonaws.com/doc/2006-03-01/")";

std::string contents(const std::string& key, const std::string& etag = "&quot;abc&quot;",
                     const std::string& size = "2048") {
  return "<Contents><Key>" + key + "</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>" +
         "<ETag>" + etag + "</ETag><Size>" + size + "</Size><StorageClass>STANDARD</StorageClass>" +
         "</Contents>";
}

std::string list_page(const std::string& entries, bool encoded, const std::string& tail = "") {
  return kXmlHead + "<ListBucketResult" + kNs + "><Name>legacy-s3</Name><Prefix>image/</Prefix>" +
         "<KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>" +
         (encoded ? "<EncodingType>url</EncodingType>" : "") + "<IsTruncated>false</IsTruncated>" +
         entries + tail + "</ListBucketResult>";
}

// Keys rehome must carry unchanged: the ones URL and XML encodings treat specially.
const std::vector<std::string> kAwkwardKeys = {
    "image/a b.png",
    "image/a+b.png",
    "image/100%.png",
    "image/~user.png",
    "image/a&b.png",
    "image/<tag>.png",
    "image/caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC.png",
    "image/q?x=1#f.png",
    "image/'quote\".png",
    "image/a%2Bb.png",
    "image//double.png",
    std::string(1000, 'k'),
};

TEST(ParseListPage, ReadsEveryFieldOfAnEntry) {
  auto page = parse_list_page(list_page(contents("image/a.png"), false), false);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "image/a.png");
  EXPECT_EQ(page->objects[0].etag, "abc");
  EXPECT_EQ(page->objects[0].size, 2048);
  EXPECT_EQ(page->objects[0].last_modified, "2024-01-02T03:04:05.000Z");
  EXPECT_FALSE(page->truncated);
}

TEST(ParseListPage, ReadsTruncationAndContinuationToken) {
  auto xml = kXmlHead + "<ListBucketResult" + kNs + "><IsTruncated>true</IsTruncated>" +
             contents("image/a.png") + contents("image/b.png") +
             "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=" +
             "</NextContinuationToken></ListBucketResult>";
  auto page = parse_list_page(xml, true);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[1].key, "image/b.png");
}

TEST(ParseListPage, AcceptsAnEmptyPage) {
  auto page = parse_list_page(list_page("", true), true);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_TRUE(page->objects.empty());
}

TEST(ParseListPage, DecodesKeysTheServerUrlEncodedAsRadosgwDoes) {
  for (const auto& key : kAwkwardKeys) {
    auto page = parse_list_page(list_page(contents(uri_encode(key, true)), true), true);
    ASSERT_TRUE(page) << key << ": " << page.error().message;
    ASSERT_EQ(page->objects.size(), 1u);
    EXPECT_EQ(page->objects[0].key, key);
  }
}

TEST(ParseListPage, DecodesPlusAsSpaceAsAwsEncodesIt) {
  // AWS: space -> '+', '+' -> %2B, '%' -> %25.
  auto page = parse_list_page(list_page(contents("image/a+b%2Bc%25d.png"), true), true);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->objects[0].key, "image/a b+c%d.png");
}

TEST(ParseListPage, LeavesKeysRawWhenTheServerIgnoredEncodingType) {
  // s3rver 3.7.1 ignores encoding-type=url and sends no <EncodingType>.
  for (const auto& key : kAwkwardKeys) {
    auto page = parse_list_page(list_page(contents(xml_escape(key)), false), true);
    ASSERT_TRUE(page) << key << ": " << page.error().message;
    EXPECT_EQ(page->objects[0].key, key);
  }
}

TEST(ParseListPage, LeavesKeysRawWhenEncodingWasNotRequested) {
  auto page = parse_list_page(list_page(contents("image/a+b%20c.png"), true), false);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->objects[0].key, "image/a+b%20c.png");
}

TEST(ParseListPage, DecodesControlCharactersOnlyUrlEncodingCanCarry) {
  auto page = parse_list_page(list_page(contents("image/a%01b%0Dc.png"), true), true);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->objects[0].key,
            "image/a\x01"
            "b\rc.png");
}

TEST(ParseListPage, ReadsADocumentWithoutNamespace) {
  auto xml =
      "<ListBucketResult><IsTruncated>false</IsTruncated>" + contents("k") + "</ListBucketResult>";
  auto page = parse_list_page(xml, false);
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->objects[0].key, "k");
}

TEST(ParseListPage, TruncatedBodyIsTransient) {
  auto xml = list_page(contents("image/a.png"), true);
  auto page = parse_list_page(xml.substr(0, xml.size() / 2), true);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().kind, ErrorKind::kTransient);
  EXPECT_NE(page.error().message.find("malformed ListBucketResult response"), std::string::npos);
}

TEST(ParseListPage, EmptyBodyIsTransient) {
  auto page = parse_list_page("", true);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().kind, ErrorKind::kTransient);
}

TEST(ParseListPage, BadSizeIsAnError) {
  auto page = parse_list_page(list_page(contents("k", "\"e\"", "12x"), false), false);
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("Size \"12x\""), std::string::npos);
}

TEST(ParseListPage, EntryWithoutKeyIsAnError) {
  auto page = parse_list_page(list_page("<Contents><Size>1</Size></Contents>", false), false);
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("no Key"), std::string::npos);
}

TEST(ParseListPage, ErrorDocumentIsClassified) {
  auto page = parse_list_page(kXmlHead + "<Error><Code>NoSuchBucket</Code>" +
                                  "<Message>The specified bucket does not exist</Message></Error>",
                              true);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(page.error().code, "NoSuchBucket");
}

TEST(ParseListPage, OtherDocumentIsPermanent) {
  auto page = parse_list_page("<ListAllMyBucketsResult/>", true);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().kind, ErrorKind::kPermanent);
  EXPECT_NE(page.error().message.find("<ListAllMyBucketsResult>"), std::string::npos);
}

TEST(ParseListPage, RefusesDoctypeAndEntities) {
  auto xml = R"(<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">]>)"
             R"(<ListBucketResult><Contents><Key>&a;</Key></Contents></ListBucketResult>)";
  auto page = parse_list_page(xml, false);
  ASSERT_FALSE(page);
  EXPECT_NE(page.error().message.find("DOCTYPE"), std::string::npos);
}

TEST(ParseListPage, ReadsAThousandEntries) {
  std::string entries;
  for (int i = 0; i < 1000; ++i) entries += contents("image/" + std::to_string(i) + ".png");
  auto page = parse_list_page(list_page(entries, true), true);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->objects.size(), 1000u);
  EXPECT_EQ(page->objects[999].key, "image/999.png");
}

TEST(ParseCopyResult, ReadsQuotedAndUnquotedEtags) {
  // AWS sends &quot;etag&quot;; radosgw sends it unquoted.
  for (const std::string etag :
       {"&quot;9b2cf535f27731c974343645a3985328&quot;", "9b2cf535f27731c974343645a3985328"}) {
    auto copy = parse_copy_result(kXmlHead + "<CopyObjectResult" + kNs +
                                  "><LastModified>2024-01-02T03:04:05.000Z</LastModified>" +
                                  "<ETag>" + etag + "</ETag></CopyObjectResult>");
    ASSERT_TRUE(copy) << copy.error().message;
    EXPECT_EQ(copy->etag, "9b2cf535f27731c974343645a3985328");
    EXPECT_EQ(copy->last_modified, "2024-01-02T03:04:05.000Z");
  }
}

TEST(ParseCopyResult, ToleratesKeepAliveWhitespaceBeforeTheDocument) {
  auto copy = parse_copy_result("\n   \n" + kXmlHead +
                                "<CopyObjectResult><ETag>e</ETag></CopyObjectResult>");
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(copy->etag, "e");
}

TEST(ParseCopyResult, MissingEtagIsAnError) {
  auto copy =
      parse_copy_result("<CopyObjectResult><LastModified>x</LastModified></CopyObjectResult>");
  ASSERT_FALSE(copy);
  EXPECT_EQ(copy.error().kind, ErrorKind::kPermanent);
  EXPECT_NE(copy.error().message.find("without an ETag"), std::string::npos);
}

TEST(ParseCopyResult, ErrorInA200IsClassifiedByCode) {
  struct Case {
    const char* code;
    ErrorKind kind;
  };
  for (auto [code, kind] :
       {Case{"InternalError", ErrorKind::kTransient}, Case{"SlowDown", ErrorKind::kThrottled},
        Case{"ServiceUnavailable", ErrorKind::kThrottled}, Case{"NoSuchKey", ErrorKind::kNotFound},
        Case{"InvalidRequest", ErrorKind::kPermanent}}) {
    auto copy = parse_copy_result(kXmlHead + "<Error><Code>" + code + "</Code>" +
                                  "<Message>We encountered an internal error.</Message>" +
                                  "<RequestId>4442587FB7D0A2F9</RequestId></Error>");
    ASSERT_FALSE(copy) << code;
    EXPECT_EQ(copy.error().kind, kind) << code;
    EXPECT_EQ(copy.error().code, code);
    EXPECT_EQ(copy.error().http_status, 200);
    EXPECT_TRUE(copy.error().message.starts_with("200 " + std::string(code) + " ("))
        << copy.error().message;
  }
}

TEST(ParseCopyResult, EmptyBodyIsTransient) {
  auto copy = parse_copy_result("   ");
  ASSERT_FALSE(copy);
  EXPECT_EQ(copy.error().kind, ErrorKind::kTransient);
}

TEST(ParseDeleteResult, ReadsDeletedKeysAndPerKeyErrors) {
  auto result = parse_delete_result(
      kXmlHead + "<DeleteResult" + kNs + "><Deleted><Key>image/a&amp;b.png</Key></Deleted>" +
      "<Deleted><Key>image/c d.png</Key><DeleteMarker>true</DeleteMarker></Deleted>" +
      "<Error><Key>image/e.png</Key><Code>AccessDenied</Code><Message>Access Denied</Message>" +
      "</Error></DeleteResult>");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->deleted, (std::vector<std::string>{"image/a&b.png", "image/c d.png"}));
  ASSERT_EQ(result->errors.size(), 1u);
  EXPECT_EQ(result->errors[0].key, "image/e.png");
  EXPECT_EQ(result->errors[0].code, "AccessDenied");
  EXPECT_EQ(result->errors[0].message, "Access Denied");
}

TEST(ParseDeleteResult, WholeRequestErrorIsAnError) {
  auto result = parse_delete_result("<Error><Code>MalformedXML</Code></Error>");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "MalformedXML");
  EXPECT_EQ(result.error().kind, ErrorKind::kPermanent);
}

std::vector<DeleteTarget> targets(const std::vector<std::string>& keys) {
  std::vector<DeleteTarget> out;
  for (const auto& key : keys) out.push_back(DeleteTarget{key, ""});
  return out;
}

TEST(BuildDeleteBody, NamesTheEtagAKeyMustStillHaveWhenGivenOne) {
  EXPECT_EQ(build_delete_body({DeleteTarget{"a", "0123abc"}, DeleteTarget{"b", ""}}),
            R"(<?xml version="1.0" encoding="UTF-8"?>)"
            R"(<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
            "<Object><Key>a</Key><ETag>&quot;0123abc&quot;</ETag></Object>"
            "<Object><Key>b</Key></Object></Delete>");
}

TEST(ParseVersioning, ReadsTheStatusOrNothingForABucketNeverVersioned) {
  EXPECT_EQ(*parse_versioning("<VersioningConfiguration xmlns=\"x\"><Status>Enabled</Status>"
                              "</VersioningConfiguration>"),
            "Enabled");
  EXPECT_EQ(*parse_versioning("<VersioningConfiguration xmlns=\"x\"></VersioningConfiguration>"),
            "");
  EXPECT_FALSE(parse_versioning("<Error><Code>AccessDenied</Code></Error>"));
}

TEST(BuildDeleteBody, RoundTripsAwkwardKeysThroughAnXmlParser) {
  auto body = build_delete_body(targets(kAwkwardKeys));
  EXPECT_TRUE(body.starts_with(R"(<?xml version="1.0" encoding="UTF-8"?><Delete xmlns=)"));
  std::vector<std::string> parsed;
  XmlEvents events;
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path_is(path, {"Delete", "Object", "Key"})) parsed.emplace_back(text);
  };
  ASSERT_EQ(read_xml(body, events), "");
  EXPECT_EQ(parsed, kAwkwardKeys);
}

TEST(BuildDeleteBody, WritesEachKeyInAnObject) {
  EXPECT_EQ(build_delete_body(targets({"a", "b&c"})),
            R"(<?xml version="1.0" encoding="UTF-8"?>)"
            R"(<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)"
            "<Object><Key>a</Key></Object><Object><Key>b&amp;c</Key></Object></Delete>");
}

TEST(BuildDeleteBody, KeepsCarriageReturnsAndNewlinesAsReferences) {
  // A literal CR or CRLF would be normalised to LF by the server's parser.
  auto body = build_delete_body(targets({"a\rb\r\nc\td"}));
  EXPECT_NE(body.find("<Key>a&#13;b&#13;&#10;c&#9;d</Key>"), std::string::npos);
  std::string parsed;
  XmlEvents events;
  events.on_close = [&](const XmlPath& path, std::string_view text) {
    if (path_is(path, {"Delete", "Object", "Key"})) parsed = text;
  };
  ASSERT_EQ(read_xml(body, events), "");
  EXPECT_EQ(parsed, "a\rb\r\nc\td");
}

TEST(XmlEscape, EscapesMarkupAndControlCharacters) {
  struct Case {
    std::string in, out;
  };
  for (const auto& [in, out] :
       {Case{"plain/key.png", "plain/key.png"},
        Case{"a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f"}, Case{"x\x01y\x1F", "x&#1;y&#31;"},
        Case{"caf\xC3\xA9", "caf\xC3\xA9"}, Case{"", ""}}) {
    EXPECT_EQ(xml_escape(in), out) << in;
  }
}

TEST(XmlCanCarry, AcceptsXmlCharactersAndRefusesTheRest) {
  struct Case {
    std::string text;
    bool ok;
  };
  for (const auto& [text, ok] :
       {Case{"image/a b+c%~&<>.png", true}, Case{"tab\tlf\ncr\r", true},
        Case{"caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80", true}, Case{std::string(1000, 'k'), true},
        Case{std::string("nul\0x", 5), false}, Case{"bell\x07", false},
        Case{"bad utf8 \xC3", false}, Case{"overlong \xC0\xAF", false},
        Case{"surrogate \xED\xA0\x80", false}, Case{"U+FFFE \xEF\xBF\xBE", false}}) {
    EXPECT_EQ(xml_can_carry(text), ok) << text;
  }
}

TEST(NormalizeEtag, StripsQuotesAndWeakPrefix) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (auto [in, out] : {Case{"\"abc\"", "abc"}, Case{"abc", "abc"}, Case{"W/\"abc\"", "abc"},
                         Case{"\"abc-2\"", "abc-2"}, Case{"\"", "\""}, Case{"", ""}}) {
    EXPECT_EQ(normalize_etag(in), out) << in;
  }
}

}  // namespace
}  // namespace rehome::s3
