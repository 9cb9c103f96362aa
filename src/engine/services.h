// The live connections a command needs, built from the configuration: one event loop, one
// pacer shared by both buckets (so throttling on either slows the whole job), a client per
// bucket, and the database.
#pragma once

#include <optional>

#include "engine/config.h"
#include "engine/summary.h"
#include "http/loop.h"
#include "pg/connection.h"
#include "s3/client.h"
#include "s3/pacer.h"

namespace rehome::engine {

struct S3Services {
  explicit S3Services(const JobConfig& config);

  http::Loop loop;
  s3::Pacer pacer;
  s3::Client legacy;
  s3::Client production;

  /// Copies request counters into the summary.
  void count_requests(Summary& summary) const;
  /// Lists one key of each bucket so that wrong credentials, a missing bucket or an
  /// unreachable endpoint fail now, with the server's answer, instead of mid-run.
  Status check_access(const JobConfig& config);
};

/// Connects to PostgreSQL; the error names the server (never the password) and what to do.
Result<pg::Connection> connect_database(const JobConfig& config);

}  // namespace rehome::engine
