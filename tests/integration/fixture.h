// What the integration suites share: where the real services are (read from the environment
// that `scripts/services up` prints), whether their absence is a skip or a failure, a throwaway
// database per test, and unique names for S3 key prefixes.
//
// A service that is not configured skips the test, unless REHOME_TEST_REQUIRE_SERVICES=1 (set
// by scripts/test and CI): then it fails, so a broken service never passes as a silent skip.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "util/result.h"

namespace rehome::testing {

/// The value of a step a test cannot go on without; throws (failing the test with the error's
/// message) when it failed.
template <typename T>
T must(Result<T> result) {
  if (!result) throw std::runtime_error("unexpected error: " + result.error().message);
  return std::move(result).value();
}

/// The base PostgreSQL conninfo (REHOME_TEST_PG_CONNINFO), or nullopt when unset or empty.
std::optional<std::string> pg_conninfo();

/// One S3 server the tests can talk to.
struct S3Target {
  std::string name;      ///< "radosgw" or "s3rver": also the gtest parameter name.
  std::string endpoint;  ///< "http://127.0.0.1:PORT"; empty when not configured.
  std::string access_key;
  std::string secret_key;

  /// True when the environment named an endpoint for this server.
  bool configured() const { return !endpoint.empty(); }
};

/// What gtest prints for a parameter: the name and endpoint, never the keys.
void PrintTo(const S3Target& target, std::ostream* out);

/// The S3 servers the environment configures (REHOME_TEST_RGW_* and REHOME_TEST_S3RVER_*).
std::vector<S3Target> s3_targets();

/// Both known S3 servers, configured or not, for INSTANTIATE_TEST_SUITE_P: a suite then always
/// has the same tests, and an absent server shows as a skip (or a failure), never as nothing.
std::vector<S3Target> all_s3_targets();

/// Names a parameterised test after its server: `.../radosgw`, `.../s3rver`.
std::string s3_target_param_name(const ::testing::TestParamInfo<S3Target>& info);

/// True when REHOME_TEST_REQUIRE_SERVICES=1: an absent service is a failure, not a skip.
bool services_required();

/// Notes that a test was skipped because a service is absent: the suite then exits 125, which
/// CTest reports as skipped (SKIP_RETURN_CODE), never as passed (suite_main.cc).
void note_service_missing();
/// True once note_service_missing() was called in this process.
bool service_was_missing();

/// Polls `done` every few milliseconds until it holds; false when `timeout` passed first. Tests
/// wait for a state this way, never by sleeping and hoping it was reached.
bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Waits until the PostgreSQL server process `pid` (on this machine: the tests' server is on
/// loopback) has exited, so its socket is closed and a client sees the connection broken.
/// pg_terminate_backend(pid, timeout) returns once the backend left the process array, a
/// moment before that. False after `timeout`.
bool wait_for_backend_exit(int pid, std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// "p<pid>-<counter>-<random hex>": unique across processes and calls, for S3 key prefixes
/// and other names two concurrent test runs must not share. Lower-case letters, digits, '-'.
std::string unique_suffix();

/// A fresh, empty database `rehome_t_<pid>_<counter>` on the configured server, dropped
/// (WITH (FORCE), so open connections do not keep it alive) when this object is destroyed.
/// Throws std::runtime_error, saying what failed, when PostgreSQL is unreachable.
class TestDatabase {
 public:
  /// Creates the database through a libpq connection on pg_conninfo(); call
  /// REHOME_REQUIRE_PG() first.
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  /// A conninfo for this database: the base one with its database replaced.
  const std::string& conninfo() const { return conninfo_; }

 private:
  std::string base_conninfo_;
  std::string name_;
  std::string conninfo_;
};

/// `base` with its database replaced by `dbname`: the path of a postgresql:// URI, otherwise an
/// appended ` dbname=...` (the last keyword wins in a libpq key=value string).
std::string conninfo_with_database(const std::string& base, const std::string& dbname);

}  // namespace rehome::testing

/// Skips the current test when PostgreSQL is not configured, or fails it when services are
/// required. Use at the top of a TEST body or SetUp().
#define REHOME_REQUIRE_PG()                                                                    \
  do {                                                                                         \
    if (!::rehome::testing::pg_conninfo()) {                                                   \
      if (::rehome::testing::services_required()) {                                            \
        GTEST_FAIL() << "REHOME_TEST_REQUIRE_SERVICES=1 but REHOME_TEST_PG_CONNINFO is unset " \
                        "(scripts/services up prints it)";                                     \
      }                                                                                        \
      ::rehome::testing::note_service_missing();                                               \
      GTEST_SKIP() << "PostgreSQL not configured: set REHOME_TEST_PG_CONNINFO "                \
                      "(eval \"$(scripts/services up)\")";                                     \
    }                                                                                          \
  } while (false)

/// The same for an S3Target (typically GetParam() over all_s3_targets()).
#define REHOME_REQUIRE_S3(target)                                                       \
  do {                                                                                  \
    const ::rehome::testing::S3Target& rehome_required_target_ = (target);              \
    if (!rehome_required_target_.configured()) {                                        \
      if (::rehome::testing::services_required()) {                                     \
        GTEST_FAIL() << "REHOME_TEST_REQUIRE_SERVICES=1 but S3 server "                 \
                     << rehome_required_target_.name                                    \
                     << " is not configured (scripts/services up prints its endpoint)"; \
      }                                                                                 \
      ::rehome::testing::note_service_missing();                                        \
      GTEST_SKIP() << "S3 server " << rehome_required_target_.name                      \
                   << " not configured (eval \"$(scripts/services up)\")";              \
    }                                                                                   \
  } while (false)

/// Skips (or, when services are required, fails) the current test unless radosgw is configured:
/// the migration suites run the whole job on it.
#define REHOME_REQUIRE_RGW()                                                                      \
  do {                                                                                            \
    bool rehome_rgw_configured_ = false;                                                          \
    for (const auto& rehome_target_ : ::rehome::testing::s3_targets()) {                          \
      rehome_rgw_configured_ = rehome_rgw_configured_ ||                                          \
                               (rehome_target_.name == "radosgw" && rehome_target_.configured()); \
    }                                                                                             \
    if (!rehome_rgw_configured_) {                                                                \
      if (::rehome::testing::services_required()) {                                               \
        GTEST_FAIL() << "radosgw is required (REHOME_TEST_RGW_ENDPOINT)";                         \
      }                                                                                           \
      ::rehome::testing::note_service_missing();                                                  \
      GTEST_SKIP() << "radosgw not configured (eval \"$(scripts/services up)\")";                 \
    }                                                                                             \
  } while (false)
