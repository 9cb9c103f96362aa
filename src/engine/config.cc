#include "engine/config.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pg/identifier.h"
#include "s3/addressing.h"

namespace rehome::engine {

namespace {

Error invalid(std::string message) { return Error::invalid_input(std::move(message)); }

Status validate_side(const char* name, const BucketSide& side) {
  if (side.bucket.empty())
    return invalid(fmt::format("the {} bucket name is empty: set --{}-bucket", name, name));
  if (side.prefix.empty()) {
    return invalid(fmt::format("the {} prefix is empty: set --{}-prefix (for example \"image/\")",
                               name, name));
  }
  if (auto st = s3::validate_endpoint(side.client.endpoint); !st) {
    return invalid(fmt::format("the {} endpoint: {}", name, st.error().message));
  }
  if (!side.client.refreshing && (side.client.credentials.access_key_id.empty() ||
                                  side.client.credentials.secret_access_key.empty())) {
    return invalid(fmt::format(
        "no S3 credentials for the {} bucket {}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "AWS_PROFILE, or --{}-profile",
        name, side.bucket, name));
  }
  return Ok{};
}

// The canned ACLs S3 accepts on PutObject and CopyObject (the AWS CLI's --acl).
constexpr std::string_view kCannedAcls[] = {
    "private",       "public-read",       "public-read-write",        "authenticated-read",
    "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"};

// Storage classes a copy may be written in: every one whose objects can be served at once.
constexpr std::string_view kServableClasses[] = {
    "STANDARD",   "REDUCED_REDUNDANCY",  "STANDARD_IA", "ONEZONE_IA",
    "GLACIER_IR", "INTELLIGENT_TIERING", "OUTPOSTS",    "EXPRESS_ONEZONE"};

template <std::size_t N>
bool one_of(std::string_view value, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), value) != std::end(list);
}

template <std::size_t N>
std::string joined(const std::string_view (&list)[N]) {
  std::string out;
  for (auto item : list) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

Status validate_write_options(const JobConfig& config) {
  if (!config.acl.empty() && !one_of(config.acl, kCannedAcls)) {
    return invalid(fmt::format("--acl \"{}\" is not a canned ACL: use one of {}", config.acl,
                               joined(kCannedAcls)));
  }
  const auto& sc = config.storage_class;
  if (sc == "GLACIER" || sc == "DEEP_ARCHIVE") {
    return invalid(fmt::format(
        "--storage-class {} would archive the copies: the frontend could not serve them until "
        "each was restored; use one of {}",
        sc, joined(kServableClasses)));
  }
  if (!sc.empty() && !one_of(sc, kServableClasses)) {
    return invalid(fmt::format("--storage-class \"{}\" is not an S3 storage class: use one of {}",
                               sc, joined(kServableClasses)));
  }
  if (config.max_streamed_object < 0) return invalid("--max-streamed-object must be 0 or more");
  if (config.multipart_threshold < 1 || config.multipart_threshold > kMaxCopyObjectBytes) {
    return invalid(fmt::format(
        "--multipart-threshold {} bytes is out of range: give 1 byte to 5GiB (CopyObject copies "
        "nothing larger)",
        config.multipart_threshold));
  }
  if (config.multipart_chunksize < kMinPartBytes ||
      config.multipart_chunksize > kMaxCopyObjectBytes) {
    return invalid(fmt::format(
        "--multipart-chunksize {} bytes is out of range: S3 takes parts of 5MiB to 5GiB",
        config.multipart_chunksize));
  }
  return Ok{};
}

}  // namespace

bool server_side_copy_possible(const JobConfig& config) {
  const auto& a = config.legacy.client;
  const auto& b = config.production.client;
  // One identity must read the source and write the copy: the same credential source (keys
  // change when temporary credentials are refreshed, the source does not); without one (a
  // caller that set keys directly), the same keys.
  // Static keys are the identity themselves; credentials a source refreshes are known by it.
  const bool same_identity =
      (a.refreshing || b.refreshing)
          ? a.refreshing && a.refreshing == b.refreshing
          : a.credentials.access_key_id == b.credentials.access_key_id &&
                a.credentials.secret_access_key == b.credentials.secret_access_key;
  if (!same_identity) return false;
  // AWS copies between regions server-side (CopyObject goes to the destination's region); any
  // other store only within one endpoint.
  if (s3::is_aws_endpoint(a.endpoint.url) && s3::is_aws_endpoint(b.endpoint.url)) return true;
  return a.endpoint.url == b.endpoint.url && a.endpoint.region == b.endpoint.region;
}

Status validate(const JobConfig& config) {
  for (const auto* ident :
       {&config.table, &config.id_column, &config.path_column, &config.state_schema}) {
    if (auto quoted = pg::quote_identifier(*ident); !quoted) return quoted.error();
  }
  if (auto st = validate_side("legacy", config.legacy); !st) return st;
  if (auto st = validate_side("production", config.production); !st) return st;
  const auto& lp = config.legacy.prefix;
  const auto& pp = config.production.prefix;
  if (lp.starts_with(pp) || pp.starts_with(lp)) {
    // A row "img/new/x" would be both legacy and production: the job would be ambiguous.
    return invalid(fmt::format(
        "the legacy prefix \"{}\" and the production prefix \"{}\" overlap: choose prefixes where "
        "neither starts with the other",
        lp, pp));
  }
  if (config.row_connections < 1 || config.row_connections > kMaxRowConnections) {
    return invalid(fmt::format("--row-connections {} is out of range: use 1 to {}",
                               config.row_connections, kMaxRowConnections));
  }
  if (config.ranges < 1 || config.ranges > kMaxRanges) {
    return invalid(
        fmt::format("--ranges {} is out of range: use 1 to {}", config.ranges, kMaxRanges));
  }
  if (config.list_page_size < 1 || config.list_page_size > s3::kMaxKeysPerPage) {
    return invalid(fmt::format("--list-page-size {} is out of range: use 1 to {} (S3's maximum)",
                               config.list_page_size, s3::kMaxKeysPerPage));
  }
  if (config.concurrency > kMaxConcurrency) {
    return invalid(fmt::format("--concurrency {} is out of range: use 0 (no cap) or 1 to {}",
                               config.concurrency, kMaxConcurrency));
  }
  if (!std::isfinite(config.max_rps) || config.max_rps < 0) {
    return invalid("--max-rps must be 0 (no cap) or a positive number of requests per second");
  }
  if (config.lease < std::chrono::seconds(3) || config.lease > std::chrono::minutes(10)) {
    return invalid(fmt::format("--lease {}s is out of range: use 3s to 10m", config.lease.count()));
  }
  if (config.row_range < 1) return invalid("--row-range must be at least 1");
  if (config.record_batch < 1) return invalid("--record-batch must be at least 1");
  return validate_write_options(config);
}

std::string job_name(const JobConfig& config) {
  return fmt::format("{}.{} s3://{}/{} -> s3://{}/{}", config.table, config.path_column,
                     config.legacy.bucket, config.legacy.prefix, config.production.bucket,
                     config.production.prefix);
}

}  // namespace rehome::engine

namespace rehome::engine {

std::string result_settings(const JobConfig& config) {
  // Flag names as keys: the refusal names what to change. Sizes in bytes, as resolved.
  nlohmann::json settings = {
      {"--acl", config.acl},
      {"--storage-class", config.storage_class},
      {"--multipart-threshold", config.multipart_threshold},
      {"--multipart-chunksize", config.multipart_chunksize},
      {"--max-streamed-object", config.max_streamed_object},
  };
  return settings.dump();
}

std::string settings_difference(const std::string& recorded, const std::string& given) {
  auto was = nlohmann::json::parse(recorded, nullptr, false);
  auto now = nlohmann::json::parse(given, nullptr, false);
  if (was.is_discarded() || !was.is_object()) return "";  // Nothing readable recorded.
  std::string out;
  for (const auto& [key, value] : now.items()) {
    // A setting an older version did not record is not a difference.
    if (!was.contains(key) || was[key] == value) continue;
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: recorded {}, given {}", key, was[key].dump(), value.dump());
  }
  return out;
}

}  // namespace rehome::engine
