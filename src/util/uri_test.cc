#include "util/uri.h"

#include <gtest/gtest.h>

#include <iterator>
#include <string>

namespace rehome {
namespace {

struct EncodeCase {
  std::string input;
  bool keep_slash;
  std::string expected;
};

TEST(UriEncode, escapes_every_byte_outside_the_unreserved_set) {
  const EncodeCase cases[] = {
      {"", false, ""},
      {"AZaz09-_.~", false, "AZaz09-_.~"},  // RFC 3986 unreserved: kept
      {"a b", false, "a%20b"},              // space is %20, never '+'
      {"a+b", false, "a%2Bb"},              // '+' is data, not a space
      {"100%", false, "100%25"},
      {"a=b&c", false, "a%3Db%26c"},
      {"$@:,;*'()!", false, "%24%40%3A%2C%3B%2A%27%28%29%21"},
      {"\xe1\x88\xb4", false, "%E1%88%B4"},  // UTF-8 bytes, upper-case hex
      {std::string("\x00\x7f\xff", 3), false, "%00%7F%FF"},
      {"image/a b.png", false, "image%2Fa%20b.png"},  // '/' too, by default (query values)
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("input: " + c.input);
    EXPECT_EQ(uri_encode(c.input, c.keep_slash), c.expected);
  }
}

TEST(UriEncode, keeps_slashes_as_is_only_when_asked) {
  const EncodeCase cases[] = {
      {"image/a b.png", true, "image/a%20b.png"},
      {"/bucket//key/", true, "/bucket//key/"},  // no normalisation: S3 keys may hold "//"
      {"~user/x+y", true, "~user/x%2By"},
      {"a/b", false, "a%2Fb"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("input: " + c.input + (c.keep_slash ? " (keep_slash)" : ""));
    EXPECT_EQ(uri_encode(c.input, c.keep_slash), c.expected);
  }
}

struct DecodeCase {
  std::string input;
  bool plus_is_space;
  std::string expected;
};

void expect_decodes(const DecodeCase* begin, const DecodeCase* end) {
  for (const auto* c = begin; c != end; ++c) {
    SCOPED_TRACE("input: " + c->input + (c->plus_is_space ? " (plus_is_space)" : ""));
    EXPECT_EQ(uri_decode(c->input, c->plus_is_space), c->expected);
  }
}

TEST(UriDecode, decodes_percent_escapes_in_either_case) {
  const DecodeCase cases[] = {
      {"", false, ""},
      {"plain", false, "plain"},
      {"a%20b", false, "a b"},
      {"%2f%2F", false, "//"},
      {"%E1%88%B4", false, "\xe1\x88\xb4"},
      {"%00", false, std::string(1, '\0')},
  };
  expect_decodes(std::begin(cases), std::end(cases));
}

TEST(UriDecode, turns_plus_into_space_only_when_asked) {
  const DecodeCase cases[] = {
      {"a+b", false, "a+b"},
      {"a+b", true, "a b"},
      {"%2B", true, "+"},  // an escaped plus stays a plus
  };
  expect_decodes(std::begin(cases), std::end(cases));
}

TEST(UriDecode, keeps_malformed_escapes_unchanged) {
  const DecodeCase cases[] = {
      // Cut short at the end.
      {"100%", false, "100%"},
      {"%4", false, "%4"},
      {"a%4", false, "a%4"},
      {"%41%", false, "A%"},
      // Not hex.
      {"%zz", false, "%zz"},
      {"%4g", false, "%4g"},
      // A stray '%' is kept; the valid escape after it is decoded.
      {"%%41", false, "%A"},
  };
  expect_decodes(std::begin(cases), std::end(cases));
}

TEST(UriDecode, inverts_uri_encode_for_every_byte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(uri_decode(uri_encode(all)), all);
  EXPECT_EQ(uri_decode(uri_encode(all, true)), all);
}

}  // namespace
}  // namespace rehome
