#include "cli/report.h"

#include <gtest/gtest.h>

namespace rehome::cli {
namespace {

TEST(Report, invalid_utf8_from_a_server_or_database_is_replaced_not_thrown) {
  engine::Summary summary;
  summary.note_problem("failed: row id=7 names image/\xFF\xFE.png (from a SQL_ASCII database)");
  std::string text;
  ASSERT_NO_THROW(text = report_json(summary));
  EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos) << "U+FFFD stands in";
  EXPECT_NE(text.find("SQL_ASCII"), std::string::npos);
}

}  // namespace
}  // namespace rehome::cli
