#include "engine/services.h"

#include <fmt/format.h>

#include "s3/refreshing_credentials.h"

namespace rehome::engine {

namespace {

s3::PacerOptions pacer_options(const JobConfig& config) {
  s3::PacerOptions options;
  options.max_in_flight = config.concurrency;
  options.max_rps = config.max_rps;
  return options;
}

http::LoopOptions loop_options(const JobConfig& config) {
  http::LoopOptions options;
  // Both endpoints may be the same host: leave room for every request plus listings.
  options.max_connections = static_cast<long>(config.concurrency) + 8;
  return options;
}

}  // namespace

S3Services::S3Services(const JobConfig& config)
    : loop(loop_options(config)),
      pacer(loop, pacer_options(config)),
      legacy(loop, pacer, config.legacy.client),
      production(loop, pacer, config.production.client) {}

void S3Services::count_requests(Summary& summary) const {
  const auto& a = legacy.stats();
  const auto& b = production.stats();
  summary.requests = a.requests + b.requests;
  summary.retries = a.retries + b.retries;
  summary.throttled = a.throttled + b.throttled;
  summary.connections = loop.connections_opened();
}

Status S3Services::check_access(const JobConfig& config) {
  struct Side {
    s3::Client& client;
    const BucketSide& side;
  };
  for (Side s : {Side{legacy, config.legacy}, Side{production, config.production}}) {
    // Credentials fetched from a source (credential_process...) are fetched now: one that
    // cannot give any stops the command before any work, with its reason.
    if (s.side.client.refreshing) {
      if (auto st = s.side.client.refreshing->start(); !st) return st;
    }
    s3::ListRequest request;
    request.bucket = s.side.bucket;
    request.prefix = s.side.prefix;
    request.max_keys = 1;
    auto page = s3::run_to_completion<s3::ListPage>(
        loop, [&](s3::Callback<s3::ListPage> done) { s.client.list_objects_v2(request, done); });
    if (!page) return page.error();
  }
  return Ok{};
}

Result<pg::Connection> connect_database(const JobConfig& config) {
  return pg::Connection::open(config.database);
}

}  // namespace rehome::engine
