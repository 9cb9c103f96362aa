#include "pg/identifier.h"

#include <gtest/gtest.h>

#include <string>

namespace rehome::pg {
namespace {

TEST(QuoteIdentifier, quotes_valid_names_and_keeps_their_case) {
  const struct {
    std::string name;
    std::string quoted;
  } cases[] = {
      {"avatars", "\"avatars\""},
      {"Avatars", "\"Avatars\""},
      {"_tmp$1", "\"_tmp$1\""},
      {"public.avatars", "\"public\".\"avatars\""},
      {"app_2.user_avatars", "\"app_2\".\"user_avatars\""},
      {std::string(63, 'a'), "\"" + std::string(63, 'a') + "\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Result<std::string> quoted = quote_identifier(c.name);
    ASSERT_TRUE(quoted.has_value()) << quoted.error().message;
    EXPECT_EQ(quoted.value(), c.quoted);
  }
}

TEST(QuoteIdentifier, rejects_names_that_break_the_rule_as_invalid_input) {
  const std::string cases[] = {
      "",
      std::string(64, 'a'),              // one byte too long
      "public." + std::string(64, 'a'),  // second part too long
      "1avatars",                        // starts with a digit
      "public.1avatars",
      "ava\"tars",                    // quote
      "avatars; DROP TABLE avatars",  // space and semicolon
      "ava tars",
      "avatars;",
      "a.b.c",     // three parts
      ".avatars",  // empty schema
      "public.",   // empty table
      "avatars-old",
      "av\xc3\xa4tars",             // non-ASCII
      std::string("ava\0tars", 8),  // NUL byte
  };
  for (const std::string& name : cases) {
    SCOPED_TRACE(name);
    const Result<std::string> quoted = quote_identifier(name);
    ASSERT_FALSE(quoted.has_value()) << quoted.value();
    EXPECT_EQ(quoted.error().kind, ErrorKind::kInvalidInput);
    EXPECT_NE(quoted.error().message.find("name or schema.name"), std::string::npos);
  }
}

TEST(QuoteIdentifier, names_the_rejected_value_printably) {
  EXPECT_EQ(quote_identifier("a b\n").error().message,
            "invalid PostgreSQL name \"a b\\x0a\": expected name or schema.name, each part "
            "1-63 letters, digits, '_' or '$', not starting with a digit");
}

TEST(TextArrayLiteral, quotes_every_element_and_escapes_quotes_and_backslashes) {
  const struct {
    std::vector<std::string> values;
    std::string literal;
  } cases[] = {
      {{}, "{}"},
      {{""}, "{\"\"}"},
      {{"a", "b"}, "{\"a\",\"b\"}"},
      {{"b\"c"}, "{\"b\\\"c\"}"},
      {{"back\\slash"}, "{\"back\\\\slash\"}"},
      {{"NULL"}, "{\"NULL\"}"},
      {{"with space", "comma,", "{brace}"}, "{\"with space\",\"comma,\",\"{brace}\"}"},
      {{"image/\xc3\xa9.png"}, "{\"image/\xc3\xa9.png\"}"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.literal);
    EXPECT_EQ(text_array_literal(c.values), c.literal);
  }
}

TEST(IntArrayLiteral, joins_values_with_commas) {
  EXPECT_EQ(int_array_literal({}), "{}");
  EXPECT_EQ(int_array_literal({7}), "{7}");
  EXPECT_EQ(int_array_literal({1, -2, 3}), "{1,-2,3}");
  EXPECT_EQ(int_array_literal({INT64_MIN, INT64_MAX}),
            "{-9223372036854775808,9223372036854775807}");
}

}  // namespace
}  // namespace rehome::pg
