#include "util/text.h"

#include <gtest/gtest.h>

namespace rehome {
namespace {

TEST(AsciiLower, lowers_ascii_letters_only) {
  EXPECT_EQ(ascii_lower("X-Amz-Date: AbC09"), "x-amz-date: abc09");
  EXPECT_EQ(ascii_lower("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9");  // UTF-8 "Été": untouched
  EXPECT_EQ(ascii_lower(""), "");
}

}  // namespace
}  // namespace rehome
