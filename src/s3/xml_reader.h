// A thin, streaming layer over expat shared by the S3 document parsers (xml.cc, errors.cc):
// it reports each element as it opens and closes, with the path of local names from the
// root, so a parser is a small table of "at this path, keep this text".
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace rehome::s3 {

/// Local element names from the root to the current element ({"ListBucketResult",
/// "Contents", "Key"}); namespace prefixes are dropped.
using XmlPath = std::vector<std::string>;

/// Callbacks for read_xml. Either may be empty.
struct XmlEvents {
  std::function<void(const XmlPath& path)> on_open;
  /// `text` is the element's own character data (entities decoded), complete.
  std::function<void(const XmlPath& path, std::string_view text)> on_close;
};

/// Parses `xml` (leading whitespace tolerated) and reports its elements. Returns an empty
/// string on success, else what was wrong ("not well-formed (invalid token) at line 3").
/// Documents with a DOCTYPE are refused: S3 never sends one, and entities are an attack surface.
std::string read_xml(std::string_view xml, const XmlEvents& events);

/// True when `path` is exactly `expected` (root first).
bool path_is(const XmlPath& path, std::initializer_list<std::string_view> expected);

}  // namespace rehome::s3
