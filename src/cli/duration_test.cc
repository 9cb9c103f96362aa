#include "cli/duration.h"

#include <gtest/gtest.h>

namespace rehome::cli {
namespace {

TEST(ParseDuration, reads_every_unit_and_combinations) {
  struct Case {
    const char* text;
    long long seconds;
  };
  const Case cases[] = {{"0", 0},       {"45s", 45},     {"90m", 5400},      {"24h", 86400},
                        {"2d", 172800}, {"1h30m", 5400}, {"1d2h3m4s", 93784}};
  for (const auto& c : cases) {
    auto d = parse_duration(c.text);
    ASSERT_TRUE(d) << c.text;
    EXPECT_EQ(d->count(), c.seconds) << c.text;
  }
}

TEST(ParseDuration, rejects_what_it_cannot_read_with_an_example_in_the_message) {
  for (const char* text : {"", "24", "h", "1x", "-1h", "1.5h", "1h 30m"}) {
    auto d = parse_duration(text);
    ASSERT_FALSE(d) << text;
    EXPECT_EQ(d.error().kind, ErrorKind::kInvalidInput);
    EXPECT_NE(d.error().message.find("24h"), std::string::npos);
  }
}

}  // namespace
}  // namespace rehome::cli
