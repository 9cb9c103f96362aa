// rehome::pg against a real PostgreSQL 15: parameters and arrays round trip, every failure
// comes back with the kind the engine acts on, lost connections are told apart from in-doubt
// commits, and no password ever reaches a message.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/key_map.h"
#include "fixture.h"
#include "pg/connection.h"
#include "pg/identifier.h"

namespace rehome::pg {
namespace {

using namespace std::chrono_literals;
using testing::must;

void must_run(Connection& conn, std::string_view sql, const Params& params = {}) {
  (void)must(conn.exec(sql, params));
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

/// Sets an environment variable for one scope, then restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// A TCP socket bound to a free loopback port; listening (but never answering) on request.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        (listening && listen(fd_, 4) != 0)) {
      throw std::runtime_error("cannot bind a loopback socket");
    }
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackSocket() {
    if (fd_ >= 0) close(fd_);
  }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  std::string port() const { return std::to_string(port_); }

 private:
  int fd_;
  int port_ = 0;
};

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    database_.emplace();
    config_.conninfo = database_->conninfo();
    admin_.emplace(must(Connection::open(config_)));
  }

  Connection open() { return must(Connection::open(config_)); }

  /// Terminates `pid` from the admin connection and waits (up to 5 s) until it has exited.
  void terminate(int pid) {
    Rows done =
        must(admin_->exec("SELECT pg_terminate_backend($1::int, 5000)", {std::to_string(pid)}));
    ASSERT_EQ(done.text(0, 0), "t");
    ASSERT_TRUE(testing::wait_for_backend_exit(pid)) << "backend " << pid << " did not exit";
  }

  /// A key=value conninfo for this test's server and database with `extra` appended (the last
  /// keyword wins), built from describe() so it works whatever form the base conninfo has.
  std::string conninfo_with(const std::string& extra) const {
    return admin_->describe() + " " + extra;
  }

  std::optional<rehome::testing::TestDatabase> database_;
  ConnectionConfig config_;
  std::optional<Connection> admin_;
};

TEST_F(PgTest, exec_round_trips_text_parameters_unicode_long_strings_and_null) {
  const std::string unicode = "h\xc3\xa9llo w\xc3\xb6rld \xf0\x9f\x8e\x89 \xe6\x97\xa5\xe6\x9c\xac";
  const std::string long_text(1000, 'x');
  Rows rows = must(admin_->exec("SELECT $1::text, $2::text, octet_length($2::text), $3::text",
                                {unicode, long_text, std::nullopt}));
  ASSERT_EQ(rows.size(), 1);
  ASSERT_EQ(rows.columns(), 4);
  EXPECT_EQ(rows.text(0, 0), unicode);
  EXPECT_EQ(rows.text(0, 1), long_text);
  EXPECT_EQ(rows.int64(0, 2), 1000);
  EXPECT_TRUE(rows.is_null(0, 3));
  EXPECT_EQ(rows.text(0, 3), "");
}

TEST_F(PgTest, a_parameter_is_a_value_never_sql) {
  must_run(*admin_, "CREATE TABLE avatars (id SERIAL PRIMARY KEY, path VARCHAR)");
  const std::string hostile = "x'); DROP TABLE avatars; --";
  Rows inserted = must(admin_->exec("INSERT INTO avatars (path) VALUES ($1)", {hostile}));
  EXPECT_EQ(inserted.affected(), 1);
  Rows rows = must(admin_->exec("SELECT path FROM avatars"));
  ASSERT_EQ(rows.size(), 1);
  EXPECT_EQ(rows.text(0, 0), hostile);
}

TEST_F(PgTest, text_array_literal_round_trips_through_unnest) {
  const std::vector<std::string> values = {
      "image/a.png", "with \"quotes\"", "back\\slash", "",
      "NULL",        "comma,{brace}",   " padded ",    "image/\xc3\xa9t\xc3\xa9.png"};
  Rows rows = must(admin_->exec("SELECT unnest($1::text[])", {text_array_literal(values)}));
  ASSERT_EQ(rows.size(), static_cast<int>(values.size()));
  for (int i = 0; i < rows.size(); ++i) {
    EXPECT_FALSE(rows.is_null(i, 0));
    EXPECT_EQ(rows.text(i, 0), values[static_cast<std::size_t>(i)]);
  }
}

TEST_F(PgTest, int_array_literal_round_trips_through_unnest) {
  const std::vector<std::int64_t> values = {1, -2, INT64_MAX, INT64_MIN};
  Rows rows = must(admin_->exec("SELECT unnest($1::bigint[])", {int_array_literal(values)}));
  ASSERT_EQ(rows.size(), 4);
  for (int i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows.int64(i, 0), values[static_cast<std::size_t>(i)]);
  }
  Rows empty = must(admin_->exec("SELECT unnest($1::bigint[])", {int_array_literal({})}));
  EXPECT_EQ(empty.size(), 0);
}

TEST_F(PgTest, a_transaction_dropped_without_commit_rolls_back) {
  Connection conn = open();
  must(conn.exec("CREATE TABLE tx_t (v int)"));
  {
    auto tx = must(Transaction::begin(conn));
    must(conn.exec("INSERT INTO tx_t VALUES (1)"));
    // An early return: the transaction goes out of scope uncommitted.
  }
  EXPECT_EQ(must(conn.exec("SELECT count(*) FROM tx_t")).text(0, 0), "0");
  {
    auto tx = must(Transaction::begin(conn));
    must(conn.exec("INSERT INTO tx_t VALUES (2)"));
    ASSERT_TRUE(tx.commit());
  }
  EXPECT_EQ(must(conn.exec("SELECT count(*) FROM tx_t")).text(0, 0), "1");
  // No transaction is left open: one still open would hold the xid of its INSERT.
  EXPECT_EQ(must(conn.exec("SELECT pg_current_xact_id_if_assigned() IS NULL")).text(0, 0), "t");
}

TEST_F(PgTest, the_sql_key_mapping_agrees_with_key_map) {
  // Multibyte prefixes and suffixes: char_length and substr count characters, not bytes.
  struct Case {
    std::string legacy_prefix, production_prefix, key;
  };
  const Case cases[] = {
      {"image/", "avatar/", "image/avatar-32425.png"},
      {"image/", "avatar/", "image/a b+c%~é/ü.png"},
      {"bilder-ä/", "avatar/", "bilder-ä/x-ö.png"},
      {"image/", "profilbild-ü/", "image/"},
      {"i%_/", "a/", "i%_/100%_.png"},  // LIKE wildcards in a prefix are plain text.
  };
  for (const auto& c : cases) {
    engine::KeyMap map(c.legacy_prefix, c.production_prefix);
    Rows r = must(admin_->exec(
        "SELECT " + engine::KeyMap::sql_is_under("$1::text", "$2") + ", " +
            engine::KeyMap::sql_swap_prefix("$1::text", "$2", "$3") + ", " +
            engine::KeyMap::sql_suffix("$1::text", "$2") + ", " +
            engine::KeyMap::sql_join("$2", engine::KeyMap::sql_suffix("$1::text", "$2")) + ", " +
            engine::KeyMap::sql_is_under("$4::text", "$2"),
        {c.key, c.legacy_prefix, c.production_prefix, "x" + c.key}));
    EXPECT_EQ(r.text(0, 0), "t") << c.key;
    EXPECT_EQ(r.text(0, 1), *map.to_production(c.key)) << c.key;
    EXPECT_EQ(r.text(0, 2), *engine::KeyMap::suffix(c.key, c.legacy_prefix)) << c.key;
    EXPECT_EQ(r.text(0, 3), c.key) << c.key;
    EXPECT_EQ(r.text(0, 4), "f") << c.key;
  }
}

TEST_F(PgTest, update_reports_rows_affected) {
  must_run(*admin_, "CREATE TABLE avatars (id SERIAL PRIMARY KEY, path VARCHAR)");
  must_run(*admin_,
           "INSERT INTO avatars (path) SELECT 'image/' || g || '.png' "
           "FROM generate_series(1, 5) g");
  Rows updated = must(admin_->exec(
      "UPDATE avatars SET path = 'avatar/' || substr(path, 7) WHERE id = ANY($1::bigint[])",
      {int_array_literal({1, 3, 99})}));
  EXPECT_EQ(updated.affected(), 2);
}

TEST_F(PgTest, missing_table_is_invalid_input_naming_the_table) {
  Result<Rows> rows = admin_->exec("SELECT id FROM rehome_no_such_table WHERE id = $1", {"1"});
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(rows.error().code, "42P01");
  EXPECT_TRUE(contains(rows.error().message, "rehome_no_such_table")) << rows.error().message;
  EXPECT_TRUE(contains(rows.error().message, "(SQLSTATE 42P01; invalid input; check the table"))
      << rows.error().message;
  EXPECT_TRUE(admin_->healthy());
}

TEST_F(PgTest, permission_denied_is_access_denied_with_the_privileges_hint) {
  must_run(*admin_, "CREATE TABLE avatars (id SERIAL PRIMARY KEY, path VARCHAR)");
  must_run(*admin_,
           "DO $$ BEGIN CREATE ROLE rehome_pg_test_nogrant NOLOGIN; "
           "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
  must_run(*admin_, "SET ROLE rehome_pg_test_nogrant");  // a role without grants, no login needed
  Result<Rows> rows = admin_->exec("UPDATE avatars SET path = $1", {"avatar/a.png"});
  must_run(*admin_, "RESET ROLE");
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().kind, ErrorKind::kAccessDenied);
  EXPECT_EQ(rows.error().code, "42501");
  const std::string expected_end =
      ": permission denied for table avatars (SQLSTATE 42501; access denied; grant the "
      "privileges listed in docs/PRIVILEGES.md)";
  EXPECT_EQ(rows.error().message, "PostgreSQL " + admin_->describe() + expected_end);
}

TEST_F(PgTest, terminated_backend_fails_transient_until_reconnect) {
  Connection victim = open();
  const int old_pid = victim.backend_pid();
  terminate(old_pid);

  Result<Rows> rows = victim.exec("SELECT 1");
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().kind, ErrorKind::kTransient) << rows.error().message;
  EXPECT_FALSE(victim.healthy());
  Result<Rows> again = victim.exec("SELECT 1");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().kind, ErrorKind::kTransient);

  ASSERT_TRUE(victim.reconnect().has_value());
  EXPECT_TRUE(victim.healthy());
  EXPECT_NE(victim.backend_pid(), old_pid);
  EXPECT_EQ(must(victim.exec("SELECT 1")).text(0, 0), "1");
}

TEST_F(PgTest, reconnect_runs_the_session_setup_and_a_failed_setup_leaves_it_unusable) {
  Connection conn = open();
  bool refuse = true;
  int setups = 0;
  conn.set_session_setup([&](Connection& fresh) -> Status {
    ++setups;
    // The set-up runs on the new session, before anyone else can use it.
    if (auto st = fresh.exec("SELECT set_config('application_name', 'set up', false)"); !st) {
      return st.error();
    }
    if (refuse) return Error::transient("not yet");
    return Ok{};
  });
  EXPECT_EQ(setups, 0);  // open() is not a reconnect
  terminate(conn.backend_pid());
  ASSERT_FALSE(conn.exec("SELECT 1").has_value());

  Status failed = conn.reconnect();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "not yet");
  EXPECT_FALSE(conn.healthy());
  Result<Rows> refused = conn.exec("SELECT 1");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().kind, ErrorKind::kTransient);

  refuse = false;
  ASSERT_TRUE(conn.reconnect());
  EXPECT_EQ(setups, 2);
  EXPECT_TRUE(conn.healthy());
  EXPECT_EQ(must(conn.exec("SELECT current_setting('application_name')")).text(0, 0), "set up");
}

// Killed between the UPDATE and the COMMIT: the FATAL and the end of file are already waiting
// on the socket, so commit() sees the connection is gone before sending COMMIT. The server
// rolled back when the connection ended, which is certain: kTransient, not kInDoubt.
TEST_F(PgTest, commit_on_a_connection_killed_before_commit_is_transient_and_commits_nothing) {
  must_run(*admin_, "CREATE TABLE avatars (id SERIAL PRIMARY KEY, path VARCHAR)");
  must_run(*admin_, "INSERT INTO avatars (path) VALUES ('image/a.png')");
  Connection victim = open();
  ASSERT_TRUE(victim.begin().has_value());
  EXPECT_EQ(must(victim.exec("UPDATE avatars SET path = 'avatar/a.png'")).affected(), 1);
  terminate(victim.backend_pid());

  Status committed = victim.commit();
  ASSERT_FALSE(committed.has_value());
  EXPECT_EQ(committed.error().kind, ErrorKind::kTransient) << committed.error().message;
  EXPECT_TRUE(contains(committed.error().message, "COMMIT not sent")) << committed.error().message;
  EXPECT_FALSE(victim.healthy());
  EXPECT_EQ(must(admin_->exec("SELECT path FROM avatars")).text(0, 0), "image/a.png");
}

// The real in-doubt case: COMMIT was sent and the connection broke before its answer came.
// A deferred trigger makes COMMIT wait on an advisory lock the test holds, so the backend can
// be killed while COMMIT is in flight. Here the server happens to have rolled back, which is
// exactly what the client cannot know: it must check, never assume either outcome.
TEST_F(PgTest, commit_whose_answer_is_lost_is_in_doubt) {
  constexpr const char* kLock = "4242001";
  must_run(*admin_, "CREATE TABLE avatars (id SERIAL PRIMARY KEY, path VARCHAR)");
  must_run(*admin_, "INSERT INTO avatars (path) VALUES ('image/a.png')");
  must_run(*admin_,
           "CREATE FUNCTION wait_for_test_lock() RETURNS trigger LANGUAGE plpgsql AS "
           "$$ BEGIN PERFORM pg_advisory_xact_lock(4242001); RETURN NULL; END $$");
  must_run(*admin_,
           "CREATE CONSTRAINT TRIGGER commit_waits AFTER UPDATE ON avatars DEFERRABLE "
           "INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wait_for_test_lock()");
  must_run(*admin_, "SELECT pg_advisory_lock($1::bigint)", {kLock});

  Connection victim = open();
  const int pid = victim.backend_pid();
  ASSERT_TRUE(victim.begin().has_value());
  must_run(victim, "UPDATE avatars SET path = 'avatar/a.png'");
  std::optional<Status> committed;
  std::thread committer([&] { committed.emplace(victim.commit()); });

  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; ++i) {
    Rows rows = must(admin_->exec(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int AND wait_event_type = 'Lock'",
        {std::to_string(pid)}));
    waiting = rows.int64(0, 0) == 1;
    if (!waiting) std::this_thread::sleep_for(50ms);
  }
  if (waiting) {
    must_run(*admin_, "SELECT pg_terminate_backend($1::int, 5000)", {std::to_string(pid)});
  }
  must_run(*admin_, "SELECT pg_advisory_unlock($1::bigint)", {kLock});
  committer.join();

  ASSERT_TRUE(waiting) << "COMMIT never blocked on the advisory lock";
  ASSERT_TRUE(committed.has_value());
  ASSERT_FALSE(committed->has_value());
  EXPECT_EQ(committed->error().kind, ErrorKind::kInDoubt) << committed->error().message;
  EXPECT_EQ(committed->error().code, "57P01") << committed->error().message;
  EXPECT_TRUE(contains(committed->error().message, "never replay blindly"));
  EXPECT_EQ(must(admin_->exec("SELECT path FROM avatars")).text(0, 0), "image/a.png");
}

TEST_F(PgTest, commit_after_a_failed_statement_reports_the_rollback) {
  Connection conn = open();
  ASSERT_TRUE(conn.begin().has_value());
  ASSERT_FALSE(conn.exec("SELECT 1 / 0").has_value());
  Status committed = conn.commit();
  ASSERT_FALSE(committed.has_value());
  EXPECT_EQ(committed.error().kind, ErrorKind::kPermanent);
  EXPECT_TRUE(contains(committed.error().message, "nothing was committed"));
  EXPECT_TRUE(conn.healthy());
}

TEST_F(PgTest, rollback_undoes_the_transaction) {
  must_run(*admin_, "CREATE TABLE avatars (id SERIAL PRIMARY KEY, path VARCHAR)");
  ASSERT_TRUE(admin_->begin().has_value());
  must_run(*admin_, "INSERT INTO avatars (path) VALUES ('image/a.png')");
  ASSERT_TRUE(admin_->rollback().has_value());
  EXPECT_EQ(must(admin_->exec("SELECT count(*) FROM avatars")).int64(0, 0), 0);
}

TEST_F(PgTest, statement_timeout_is_transient_with_sqlstate_57014) {
  config_.statement_timeout_ms = 200;
  Connection conn = open();
  EXPECT_EQ(must(conn.exec("SHOW statement_timeout")).text(0, 0), "200ms");
  Result<Rows> rows = conn.exec("SELECT pg_sleep(5)");
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().kind, ErrorKind::kTransient);
  EXPECT_EQ(rows.error().code, "57014");
  EXPECT_TRUE(contains(rows.error().message, "statement timeout")) << rows.error().message;
  EXPECT_TRUE(conn.healthy());
}

TEST_F(PgTest, open_sets_application_name_and_describes_without_password) {
  EXPECT_EQ(must(admin_->exec("SELECT current_setting('application_name')")).text(0, 0), "rehome");
  const std::string description = admin_->describe();
  EXPECT_TRUE(description.starts_with("host=")) << description;
  EXPECT_TRUE(contains(description, " port=") &&
              contains(description, " dbname=" + database_->name()))
      << description;
  EXPECT_FALSE(contains(description, "password"));
}

TEST_F(PgTest, unknown_role_is_access_denied_and_hides_the_conninfo_password) {
  const std::string password = "Pw-in-conninfo-4821";
  config_.conninfo = conninfo_with("user=rehome_pg_test_nobody password=" + password);
  Result<Connection> conn = Connection::open(config_);
  ASSERT_FALSE(conn.has_value());
  EXPECT_EQ(conn.error().kind, ErrorKind::kAccessDenied) << conn.error().message;
  EXPECT_EQ(conn.error().code, "28000");
  EXPECT_TRUE(contains(conn.error().message, "rehome_pg_test_nobody")) << conn.error().message;
  EXPECT_FALSE(contains(conn.error().message, password)) << conn.error().message;
}

TEST_F(PgTest, unknown_role_hides_the_pgpassword_password) {
  const std::string password = "Pw-from-env-7731";
  const ScopedEnv pgpassword("PGPASSWORD", password.c_str());
  config_.conninfo = conninfo_with("user=rehome_pg_test_nobody");
  Result<Connection> conn = Connection::open(config_);
  ASSERT_FALSE(conn.has_value());
  EXPECT_EQ(conn.error().kind, ErrorKind::kAccessDenied);
  EXPECT_FALSE(contains(conn.error().message, password)) << conn.error().message;
}

// Needs password authentication for rehome_test_pw in pg_hba.conf; a trusting server (the
// default of scripts/start-postgres) lets any password in, and the test skips.
TEST_F(PgTest, wrong_password_is_access_denied_and_not_echoed) {
  must_run(*admin_,
           "DO $$ BEGIN CREATE ROLE rehome_test_pw LOGIN PASSWORD 'Right-Pw-1209'; "
           "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
  const std::string wrong = "Wrong-Pw-5583";
  config_.conninfo = conninfo_with("user=rehome_test_pw password=" + wrong);
  Result<Connection> conn = Connection::open(config_);
  if (conn.has_value()) GTEST_SKIP() << "the server does not ask rehome_test_pw for a password";
  EXPECT_EQ(conn.error().kind, ErrorKind::kAccessDenied) << conn.error().message;
  EXPECT_EQ(conn.error().code, "28P01");
  EXPECT_TRUE(contains(conn.error().message, "password authentication failed"));
  EXPECT_FALSE(contains(conn.error().message, wrong)) << conn.error().message;
}

TEST_F(PgTest, missing_database_is_invalid_input) {
  config_.conninfo = conninfo_with("dbname=rehome_pg_test_no_such_db");
  Result<Connection> conn = Connection::open(config_);
  ASSERT_FALSE(conn.has_value());
  EXPECT_EQ(conn.error().kind, ErrorKind::kInvalidInput) << conn.error().message;
  EXPECT_EQ(conn.error().code, "3D000");
}

// No server needed: the port is bound but nobody listens, so connecting is refused.
TEST(PgConnect, refused_connection_is_transient_and_hides_every_password) {
  const LoopbackSocket closed(/*listening=*/false);
  const std::string port = closed.port();
  const ScopedEnv pgpassword("PGPASSWORD", "Pw-from-env-3391");
  const std::string conninfos[] = {
      "host=127.0.0.1 port=" + port + " user=rehome password=Pw-kv-5150",
      "postgresql://rehome:Pw-uri-9911@127.0.0.1:" + port + "/app",
      "host=127.0.0.1 port=" + port + " user=rehome",
  };
  for (const std::string& conninfo : conninfos) {
    SCOPED_TRACE(conninfo);
    Result<Connection> conn = Connection::open({conninfo, "rehome", 5, 0});
    ASSERT_FALSE(conn.has_value());
    const Error& error = conn.error();
    EXPECT_EQ(error.kind, ErrorKind::kTransient);
    EXPECT_TRUE(contains(error.message, "host=127.0.0.1 port=" + port)) << error.message;
    EXPECT_TRUE(contains(error.message, "Connection refused")) << error.message;
    for (const char* password : {"Pw-kv-5150", "Pw-uri-9911", "Pw-from-env-3391"}) {
      EXPECT_FALSE(contains(error.message, password)) << error.message;
    }
  }
}

// A server that accepts the connection and never answers: connect_timeout (2 s, libpq's
// minimum) ends the wait.
TEST(PgConnect, silent_server_times_out_as_transient) {
  const LoopbackSocket silent(/*listening=*/true);
  const auto started = std::chrono::steady_clock::now();
  Result<Connection> conn =
      Connection::open({"host=127.0.0.1 sslmode=disable port=" + silent.port(), "rehome", 2, 0});
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(conn.has_value());
  EXPECT_EQ(conn.error().kind, ErrorKind::kTransient);
  EXPECT_TRUE(contains(conn.error().message, "connection timed out after 2 s"))
      << conn.error().message;
  EXPECT_GE(waited, 1900ms);
  EXPECT_LT(waited, 10s);
}

}  // namespace
}  // namespace rehome::pg
