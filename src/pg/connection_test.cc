// Connection failures decided before any network I/O: no server needed.
#include "pg/connection.h"

#include <gtest/gtest.h>

#include <string>

namespace rehome::pg {
namespace {

TEST(ConnectionOpen, malformed_conninfo_is_invalid_input_without_the_password) {
  const char* cases[] = {
      "host=127.0.0.1 password=my secret",             // libpq quotes "secret" back
      "postgresql://rehome:p%zzsecret@127.0.0.1/app",  // and here the whole token
      "host=127.0.0.1 password='secret",
  };
  for (const char* conninfo : cases) {
    SCOPED_TRACE(conninfo);
    Result<Connection> conn = Connection::open({conninfo, "rehome", 1, 0});
    ASSERT_FALSE(conn.has_value());
    EXPECT_EQ(conn.error().kind, ErrorKind::kInvalidInput);
    EXPECT_TRUE(conn.error().message.starts_with("PostgreSQL connection string: "))
        << conn.error().message;
    EXPECT_EQ(conn.error().message.find("secret"), std::string::npos) << conn.error().message;
  }
}

TEST(ConnectionOpen, negative_timeouts_are_invalid_input) {
  Result<Connection> conn = Connection::open({"", "rehome", -1, 0});
  ASSERT_FALSE(conn.has_value());
  EXPECT_EQ(conn.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(Connection::open({"", "rehome", 1, -5}).error().kind, ErrorKind::kInvalidInput);
}

TEST(Rows, an_empty_result_has_no_rows_and_rejects_cells) {
  const Rows rows;
  EXPECT_EQ(rows.size(), 0);
  EXPECT_EQ(rows.columns(), 0);
  EXPECT_EQ(rows.affected(), 0);
  EXPECT_THROW((void)rows.text(0, 0), std::out_of_range);
}

}  // namespace
}  // namespace rehome::pg
