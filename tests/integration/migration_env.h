// A world for migration tests: a fresh database with an avatars table, a fresh pair of buckets
// on radosgw, helpers to seed both, and a JobConfig pointing at them.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "fixture.h"
#include "http/loop.h"
#include "pg/connection.h"
#include "s3/client.h"
#include "s3/pacer.h"

namespace rehome::testing {

class MigrationEnv {
 public:
  /// Requires PostgreSQL and radosgw (fails or skips via the fixture's rules before use).
  MigrationEnv();
  ~MigrationEnv();

  engine::JobConfig config() const;
  pg::Connection& db() { return *db_; }
  s3::Client& s3() { return *client_; }
  http::Loop& loop() { return *loop_; }
  const std::string& legacy_bucket() const { return legacy_bucket_; }
  const std::string& production_bucket() const { return production_bucket_; }
  const TestDatabase& database() const { return *database_; }

  /// PUTs `body` to bucket/key; fails the test on error.
  void put(const std::string& bucket, const std::string& key, const std::string& body);
  /// The object's body, or nullopt when it does not exist.
  std::optional<std::string> get(const std::string& bucket, const std::string& key);
  /// Inserts a row with this path (nullopt = NULL) and returns its id.
  std::int64_t insert_row(const std::optional<std::string>& path);
  /// The row's path (nullopt = NULL).
  std::optional<std::string> path_of(std::int64_t id);
  /// Runs a statement that must succeed.
  pg::Rows sql(const std::string& statement, const pg::Params& params = {});

  /// Seeds `n` legacy avatars (object + row each) named image/avatar-<i>.png; returns ids.
  std::vector<std::int64_t> seed_legacy(int n, int first = 0);

  /// Uploads `parts` as one multipart object (its ETag is "<hex>-<parts>", not an MD5 of the
  /// content); fails the test on error.
  void put_multipart(const std::string& bucket, const std::string& key,
                     const std::vector<std::string>& parts);

  /// Runs Python `code` with `s3` bound to the fault suite's signed client on this radosgw
  /// (tests/faults/s3mini.py), for what rehome's own client does not do (tags, arbitrary
  /// headers); returns what it printed. Fails the test when it raises.
  std::string python(const std::string& code);

  /// Puts a bucket policy on `bucket` that denies s3:GetObject on the keys matching
  /// `key_pattern` ("image/avatar-7.png", "image/*") to everyone: radosgw then refuses GET,
  /// HEAD and CopyObject from them with 403 AccessDenied, even for the bucket's owner.
  void deny_get(const std::string& bucket, const std::string& key_pattern);

  /// The endpoint rehome is given: the plain one, or (REHOME_TEST_RGW_OVER_TLS=1) HTTPS.
  const std::string& rehome_endpoint() const { return rehome_endpoint_; }
  /// The environment for running the rehome binary against this world.
  std::vector<std::string> binary_env() const;

 private:
  std::string endpoint_, access_key_, secret_key_;
  std::string rehome_endpoint_;  // What rehome is given: endpoint_, or its HTTPS twin.
  std::string ca_bundle_;        // The test CA, over HTTPS.
  std::unique_ptr<TestDatabase> database_;
  std::optional<pg::Connection> db_;
  std::unique_ptr<http::Loop> loop_;
  std::unique_ptr<s3::Pacer> pacer_;
  std::unique_ptr<s3::Client> client_;
  std::string legacy_bucket_, production_bucket_;
};

/// Runs the rehome binary with `args` and extra environment; returns its exit status
/// (128 + signal when killed by a signal). Output is captured into `output` when given.
int run_rehome(const std::vector<std::string>& args, const std::vector<std::string>& env,
               std::string* output = nullptr);

/// Like run_rehome, but sends `signal` to the process `delay` after it starts.
int run_rehome_and_signal(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          int signal, std::chrono::milliseconds delay,
                          std::string* output = nullptr);

/// The content a seeded avatar `i` has (distinct per i, PNG-like header).
std::string avatar_bytes(int i);

}  // namespace rehome::testing
