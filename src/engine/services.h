// The live connections a command needs, built from the configuration: one event loop, one
// pacer per S3 endpoint (a server's limits are its own: throttling at one endpoint slows every
// request sent there, and a streamed copy between two endpoints faces both), a client per
// bucket, and the database.
#pragma once

#include <memory>
#include <optional>

#include "engine/config.h"
#include "engine/summary.h"
#include "http/loop.h"
#include "pg/connection.h"
#include "s3/client.h"
#include "s3/pacer.h"

namespace rehome::engine {

/// True when both buckets are reached at one endpoint (URL and region): they share its pacer.
bool same_endpoint(const JobConfig& config);

struct S3Services {
  explicit S3Services(const JobConfig& config);

  http::Loop loop;
  std::unique_ptr<s3::Pacer> legacy_pacer;
  /// Null when the production bucket shares the legacy bucket's endpoint (and pacer).
  std::unique_ptr<s3::Pacer> production_own_pacer;
  s3::Client legacy;
  s3::Client production;

  s3::Pacer& production_pacer() {
    return production_own_pacer ? *production_own_pacer : *legacy_pacer;
  }
  const s3::Pacer& production_pacer() const {
    return production_own_pacer ? *production_own_pacer : *legacy_pacer;
  }
  /// Tells `observer` (null: no one) of both clients' requests (the metrics).
  void observe(s3::RequestObserver* observer) {
    legacy.observe(observer);
    production.observe(observer);
  }
  /// Requests the pacers allow in flight now for the copies: the production endpoint's when
  /// copies are server-side (the legacy endpoint then serves only listings), else both summed
  /// (a streamed copy holds a request at one or the other).
  std::size_t request_slots(bool server_side_copies) const;
  /// Copies request counters into the summary.
  void count_requests(Summary& summary) const;
  /// Lists one key of each bucket so that wrong credentials, a missing bucket or an
  /// unreachable endpoint fail now, with the server's answer, instead of mid-run.
  Status check_access(const JobConfig& config);

 private:
  /// `pacing` is worked out once (it raises the open-file limit) for every pacer and the loop.
  S3Services(const JobConfig& config, const s3::PacerOptions& pacing);
};

/// Connects to PostgreSQL; the error names the server (never the password) and what to do.
Result<pg::Connection> connect_database(const JobConfig& config);

}  // namespace rehome::engine
