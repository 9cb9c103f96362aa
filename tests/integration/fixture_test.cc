// The integration fixture itself, against the real services: proves that scripts/services
// brought up what the suites need and that the fixture's helpers do what they promise.
#include "fixture.h"

#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>

namespace {

using rehome::testing::conninfo_with_database;
using rehome::testing::S3Target;

/// Runs `sql` on `conninfo` and returns the first column of the first row ("" on any failure).
std::string query_one(const std::string& conninfo, const std::string& sql) {
  const std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return {};
  }
  const std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()),
                                                             &PQclear);
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) == 0) {
    return {};
  }
  return PQgetvalue(result.get(), 0, 0);
}

/// True when a TCP connection to the endpoint's port on 127.0.0.1 succeeds.
bool accepts_connections(const std::string& endpoint) {
  const std::size_t colon = endpoint.rfind(':');
  const int port = std::stoi(endpoint.substr(colon + 1));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

TEST(ConninfoWithDatabase, replaces_the_path_of_a_uri) {
  EXPECT_EQ(conninfo_with_database("postgresql://postgres@127.0.0.1:5432/rehome", "t1"),
            "postgresql://postgres@127.0.0.1:5432/t1");
  EXPECT_EQ(conninfo_with_database("postgresql://u@h:1/db?sslmode=disable", "t1"),
            "postgresql://u@h:1/t1?sslmode=disable");
  EXPECT_EQ(conninfo_with_database("postgres://h", "t1"), "postgres://h/t1");
  EXPECT_EQ(conninfo_with_database("postgresql://h?application_name=x", "t1"),
            "postgresql://h/t1?application_name=x");
}

TEST(ConninfoWithDatabase, appends_dbname_to_a_keyword_string) {
  EXPECT_EQ(conninfo_with_database("host=127.0.0.1 port=5432 dbname=rehome", "t1"),
            "host=127.0.0.1 port=5432 dbname=rehome dbname=t1");
}

TEST(UniqueSuffix, differs_between_calls_and_is_safe_in_keys) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string suffix = rehome::testing::unique_suffix();
    EXPECT_EQ(suffix.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos)
        << suffix;
    seen.insert(suffix);
  }
  EXPECT_EQ(seen.size(), 100U);
}

TEST(TestDatabase, creates_a_fresh_database_and_drops_it_afterwards) {
  REHOME_REQUIRE_PG();
  const std::string base = *rehome::testing::pg_conninfo();
  std::string name;
  {
    rehome::testing::TestDatabase database;
    name = database.name();
    EXPECT_EQ(query_one(database.conninfo(), "SELECT current_database()"), name);
    EXPECT_EQ(query_one(database.conninfo(),
                        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
              "0");
  }
  EXPECT_EQ(query_one(base, "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'"),
            "0");
}

class S3TargetTest : public ::testing::TestWithParam<S3Target> {};

TEST_P(S3TargetTest, configured_server_accepts_connections) {
  REHOME_REQUIRE_S3(GetParam());
  EXPECT_FALSE(GetParam().access_key.empty());
  EXPECT_FALSE(GetParam().secret_key.empty());
  EXPECT_TRUE(accepts_connections(GetParam().endpoint)) << GetParam().endpoint;
}

INSTANTIATE_TEST_SUITE_P(Servers, S3TargetTest,
                         ::testing::ValuesIn(rehome::testing::all_s3_targets()),
                         rehome::testing::s3_target_param_name);

}  // namespace
