#include "engine/services.h"

#include <fmt/format.h>

#include <algorithm>

#include "s3/refreshing_credentials.h"
#include "util/open_files.h"

namespace rehome::engine {

namespace {

// Files kept for everything but S3 connections: PostgreSQL, epoll, logs, the report.
constexpr std::size_t kReservedFiles = 64;

std::size_t endpoints(const JobConfig& config) { return same_endpoint(config) ? 1 : 2; }

// The most requests in flight per endpoint without a hard cap: the memory budget's 512, or
// fewer where the open-file limit could not hold a connection for each.
std::size_t ceiling_per_endpoint(const JobConfig& config) {
  const std::size_t files = util::raise_open_files_limit();
  const std::size_t usable = files > kReservedFiles + 16 ? files - kReservedFiles : 16;
  return std::clamp<std::size_t>(usable / endpoints(config), 1, s3::kInFlightCeiling);
}

s3::PacerOptions pacer_options(const JobConfig& config) {
  s3::PacerOptions options;
  options.max_in_flight = config.concurrency;
  options.ceiling = ceiling_per_endpoint(config);
  options.max_rps = config.max_rps;
  return options;
}

http::LoopOptions loop_options(const JobConfig& config, const s3::PacerOptions& pacing) {
  http::LoopOptions options;
  // A connection for every request each pacer may let through, plus a few for listings.
  const std::size_t per_endpoint = pacing.max_in_flight > 0 ? pacing.max_in_flight : pacing.ceiling;
  options.max_connections = static_cast<long>(per_endpoint * endpoints(config)) + 8;
  return options;
}

std::unique_ptr<s3::Pacer> own_pacer(http::Loop& loop, const JobConfig& config,
                                     const s3::PacerOptions& pacing) {
  if (same_endpoint(config)) return nullptr;
  return std::make_unique<s3::Pacer>(loop, pacing);
}

}  // namespace

bool same_endpoint(const JobConfig& config) {
  const s3::Endpoint& a = config.legacy.client.endpoint;
  const s3::Endpoint& b = config.production.client.endpoint;
  return a.url == b.url && a.region == b.region;
}

S3Services::S3Services(const JobConfig& config) : S3Services(config, pacer_options(config)) {}

S3Services::S3Services(const JobConfig& config, const s3::PacerOptions& pacing)
    : loop(loop_options(config, pacing)),
      legacy_pacer(std::make_unique<s3::Pacer>(loop, pacing)),
      production_own_pacer(own_pacer(loop, config, pacing)),
      legacy(loop, *legacy_pacer, config.legacy.client),
      production(loop, production_pacer(), config.production.client) {}

std::size_t S3Services::request_slots(bool server_side_copies) const {
  if (!production_own_pacer) return legacy_pacer->in_flight_limit();
  const std::size_t production_slots = production_own_pacer->in_flight_limit();
  if (server_side_copies) return production_slots;
  return legacy_pacer->in_flight_limit() + production_slots;
}

void S3Services::count_requests(Summary& summary) const {
  const auto& a = legacy.stats();
  const auto& b = production.stats();
  summary.requests = a.requests + b.requests;
  summary.retries = a.retries + b.retries;
  summary.throttled = a.throttled + b.throttled;
  summary.connections = loop.connections_opened();
  summary.peak_in_flight = legacy_pacer->stats().peak_in_flight;
  if (production_own_pacer) {
    summary.peak_in_flight = std::max<std::uint64_t>(summary.peak_in_flight,
                                                     production_own_pacer->stats().peak_in_flight);
  }
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
