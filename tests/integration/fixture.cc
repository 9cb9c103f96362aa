#include "fixture.h"

// libpq directly, not rehome::pg: the fixture must keep working while the code under test is
// broken. Debian installs the header under postgresql/ (found when the target does not carry
// PostgreSQL's include directory).
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace rehome::testing {
namespace {

/// The variable's value, or "" when it is unset.
std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

/// Calls and databases made by this process so far: keeps names unique within it.
int next_counter() {
  static std::atomic<int> counter{0};
  return ++counter;
}

struct PgConnFree {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnFree>;

struct PgResultFree {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultFree>;

void ignore_notice(void* /*arg*/, const char* /*message*/) {}

/// A libpq connection to `conninfo`, good or not (check PQstatus). The fixture's own
/// DROP ... IF EXISTS would otherwise print NOTICEs into every test's output.
PgConnPtr open_connection(const std::string& conninfo) {
  PgConnPtr conn(PQconnectdb(conninfo.c_str()));
  if (conn != nullptr) {
    PQsetNoticeProcessor(conn.get(), ignore_notice, nullptr);
  }
  return conn;
}

/// libpq's reason for a failed connection.
std::string connection_error(const PgConnPtr& conn) {
  return conn ? PQerrorMessage(conn.get()) : "out of memory";
}

/// Runs one utility statement (CREATE/DROP DATABASE); returns libpq's error, "" on success.
std::string run(PGconn* conn, const std::string& sql) {
  PgResultPtr result(PQexec(conn, sql.c_str()));
  if (result != nullptr && PQresultStatus(result.get()) == PGRES_COMMAND_OK) {
    return {};
  }
  return PQerrorMessage(conn);
}

bool is_uri(const std::string& conninfo) {
  return conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
}

S3Target target_from_env(const char* name, const char* prefix) {
  const std::string p(prefix);
  return S3Target{name, env((p + "ENDPOINT").c_str()), env((p + "ACCESS_KEY").c_str()),
                  env((p + "SECRET_KEY").c_str())};
}

}  // namespace

std::optional<std::string> pg_conninfo() {
  std::string conninfo = env("REHOME_TEST_PG_CONNINFO");
  if (conninfo.empty()) {
    return std::nullopt;
  }
  return conninfo;
}

std::vector<S3Target> all_s3_targets() {
  return {target_from_env("radosgw", "REHOME_TEST_RGW_"),
          target_from_env("s3rver", "REHOME_TEST_S3RVER_")};
}

std::vector<S3Target> s3_targets() {
  std::vector<S3Target> configured;
  for (S3Target& target : all_s3_targets()) {
    if (target.configured()) {
      configured.push_back(std::move(target));
    }
  }
  return configured;
}

void PrintTo(const S3Target& target, std::ostream* out) {
  *out << target.name << " (" << (target.configured() ? target.endpoint : "not configured") << ")";
}

std::string s3_target_param_name(const ::testing::TestParamInfo<S3Target>& info) {
  return info.param.name;
}

bool services_required() { return env("REHOME_TEST_REQUIRE_SERVICES") == "1"; }

namespace {
std::atomic<bool> g_service_missing{false};
}  // namespace

void note_service_missing() { g_service_missing = true; }

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool wait_for_backend_exit(int pid, std::chrono::milliseconds timeout) {
  // Gone, or a zombie waiting for the postmaster to reap it: either way its files are closed.
  const std::string status = "/proc/" + std::to_string(pid) + "/status";
  return wait_until(
      [&] {
        std::ifstream in(status);
        if (!in) return true;
        std::string line;
        while (std::getline(in, line)) {
          if (line.starts_with("State:")) return line.find('Z') != std::string::npos;
        }
        return true;
      },
      timeout);
}

bool service_was_missing() { return g_service_missing; }

std::string unique_suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex rng_mutex;
  std::uint64_t random = 0;
  {
    std::lock_guard<std::mutex> lock(rng_mutex);
    random = rng();
  }
  std::ostringstream out;
  out << 'p' << ::getpid() << '-' << next_counter() << '-' << std::hex << (random & 0xffffffffU);
  return out.str();
}

std::string conninfo_with_database(const std::string& base, const std::string& dbname) {
  if (!is_uri(base)) {
    return base + " dbname=" + dbname;
  }
  // postgresql://[userinfo@][host][:port][/dbname][?params]: the path starts at the first '/'
  // after the authority and runs to '?' or the end.
  const std::size_t authority = base.find("://") + 3;
  const std::size_t query = base.find('?', authority);
  const std::size_t path = base.find('/', authority);
  const std::size_t path_end = query == std::string::npos ? base.size() : query;
  const std::size_t path_begin = (path == std::string::npos || path > path_end) ? path_end : path;
  return base.substr(0, path_begin) + "/" + dbname + base.substr(path_end);
}

TestDatabase::TestDatabase()
    : base_conninfo_(pg_conninfo().value_or("")),
      name_("rehome_t_" + std::to_string(::getpid()) + "_" + std::to_string(next_counter())),
      conninfo_(conninfo_with_database(base_conninfo_, name_)) {
  if (base_conninfo_.empty()) {
    throw std::runtime_error(
        "test fixture: REHOME_TEST_PG_CONNINFO is unset; use REHOME_REQUIRE_PG()");
  }
  PgConnPtr conn = open_connection(base_conninfo_);
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error(
        "test fixture: cannot connect to PostgreSQL (REHOME_TEST_PG_CONNINFO): " +
        connection_error(conn));
  }
  // A leftover from an earlier process with the same PID would make CREATE fail.
  run(conn.get(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  const std::string error = run(conn.get(), "CREATE DATABASE " + name_);
  if (!error.empty()) {
    throw std::runtime_error("test fixture: CREATE DATABASE " + name_ + ": " + error);
  }
}

TestDatabase::~TestDatabase() {
  // A fresh connection: the test may have terminated backends, the fixture's included.
  PgConnPtr conn = open_connection(base_conninfo_);
  if (conn == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
    ADD_FAILURE() << "test fixture: cannot connect to drop database " << name_ << ": "
                  << connection_error(conn);
    return;
  }
  const std::string error = run(conn.get(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  if (!error.empty()) {
    ADD_FAILURE() << "test fixture: DROP DATABASE " << name_ << ": " << error;
  }
}

}  // namespace rehome::testing
