#include "cli/size.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace rehome::cli {
namespace {

TEST(ParseSize, every_unit_is_a_power_of_1024_as_in_the_aws_cli) {
  struct Case {
    const char* text;
    std::int64_t bytes;
  };
  constexpr std::int64_t kMiB = 1024 * 1024;
  const Case cases[] = {{"0", 0},
                        {"8388608", 8 * kMiB},
                        {"8MB", 8 * kMiB},
                        {"8mb", 8 * kMiB},
                        {"8MiB", 8 * kMiB},
                        {"8 MB", 8 * kMiB},
                        {"64KB", 64 * 1024},
                        {"5GB", 5 * 1024 * kMiB},
                        {"5GiB", 5 * 1024 * kMiB},
                        {"1.5GiB", 1536 * kMiB},
                        {"1TB", 1024 * 1024 * kMiB},
                        {"100b", 100}};
  for (const auto& c : cases) {
    auto size = parse_size(c.text);
    ASSERT_TRUE(size) << c.text << ": " << size.error().message;
    EXPECT_EQ(*size, c.bytes) << c.text;
  }
}

TEST(FormatSize, the_largest_exact_binary_unit) {
  EXPECT_EQ(format_size(5LL * 1024 * 1024 * 1024), "5GiB");
  EXPECT_EQ(format_size(8 * 1024 * 1024), "8MiB");
  EXPECT_EQ(format_size(1536 * 1024), "1536KiB");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(*parse_size(format_size(123456789)), 123456789);
}

TEST(ParseSize, anything_else_says_what_a_size_is) {
  for (const char* text : {"", "MB", "8 megabytes", "-1MB", "8PB", "1e3", "9999999999TB"}) {
    auto size = parse_size(text);
    ASSERT_FALSE(size) << text;
    EXPECT_EQ(size.error().message,
              fmt::format("\"{}\" is not a size: give bytes, or a number with KB, MB, GB or TB "
                          "(8MB is 8 MiB, as in the AWS CLI)",
                          text));
  }
}

}  // namespace
}  // namespace rehome::cli
