#include "cli/settings.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <system_error>

#include <fmt/format.h>

#include "cli/duration.h"
#include "cli/size.h"
#include "metrics/metrics.h"
#include "pg/connection.h"
#include "s3/addressing.h"
#include "s3/credential_sources.h"
#include "s3/refreshing_credentials.h"

namespace rehome::cli {

namespace {

// A value and where it came from.
struct Found {
  std::string value;
  std::string origin;
};

Error invalid(std::string message) { return Error::invalid_input(std::move(message)); }

// flag, else environment variable, else default.
Found pick(const GivenFlags& flags, const s3::EnvLookup& env, const OptionSpec& spec) {
  if (auto it = flags.find(spec.flag); it != flags.end()) return {it->second, spec.flag};
  if (spec.env[0] != '\0') {
    // An empty variable counts as unset, as in libpq and the AWS CLI.
    if (auto value = env(spec.env); value && !value->empty()) return {*value, spec.env};
  }
  return {spec.default_value, "default"};
}

const OptionSpec& spec_of(std::string_view flag) {
  for (const auto& spec : job_options()) {
    if (flag == spec.flag) return spec;
  }
  throw std::logic_error(fmt::format("settings: no option {}", flag));  // A typo here, not input.
}

template <typename T>
Result<T> parse_number(const Found& found, std::string_view flag, const char* what) {
  T out{};
  const char* begin = found.value.data();
  const char* end = begin + found.value.size();
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc() || ptr != end || found.value.empty()) {
    std::string from = found.origin == flag ? std::string() : " (from " + found.origin + ")";
    return invalid(
        fmt::format("{} \"{}\"{} is not {}: give {}", flag, found.value, from, what, what));
  }
  return out;
}

// Endpoint, region and credentials of one bucket: the side's own flag, else the flag for both
// buckets, else the AWS environment, else the profile (s3::resolve_aws_settings), else AWS.
struct SideResult {
  s3::ClientConfig client;
  std::vector<Provenance> provenance;
};

// Path-style or virtual-hosted (--addressing-style, the AWS CLI's setting): `auto` is
// virtual-hosted on AWS, except for a bucket name with dots (AWS's wildcard certificate
// *.s3.<region>.amazonaws.com does not match "a.b.s3..."), and path-style on any other endpoint
// (most S3-compatible stores are reached by IP or one host name).
Result<bool> path_style_for(const GivenFlags& flags, const s3::EnvLookup& env, bool aws,
                            const std::string& bucket) {
  Found style = pick(flags, env, spec_of("--addressing-style"));
  if (flags.contains("--virtual-hosted")) style = Found{"virtual", "--virtual-hosted"};
  if (style.value == "path") return true;
  if (style.value == "virtual") return false;
  if (style.value != "auto") {
    return invalid(fmt::format(
        "{} \"{}\"{} is not an addressing style: give auto, path or virtual", "--addressing-style",
        style.value, style.origin == "--addressing-style" ? "" : " (from " + style.origin + ")"));
  }
  return !aws || bucket.find('.') != std::string::npos;
}

// Credential sources already made for the other bucket, by source and TLS settings.
using SharedSources = std::map<std::string, std::shared_ptr<s3::RefreshingCredentials>>;

Result<SideResult> resolve_side(const GivenFlags& flags, const s3::EnvLookup& env,
                                const std::string& name, const std::string& bucket,
                                SharedSources& shared_sources) {
  auto given = [&](const std::string& flag) -> std::optional<Found> {
    if (auto it = flags.find(flag); it != flags.end() && !it->second.empty()) {
      return Found{it->second, flag};
    }
    return std::nullopt;
  };
  const std::string side_flag = "--" + name + "-";
  std::optional<Found> profile = given(side_flag + "profile");
  if (!profile) profile = given("--profile");
  auto settings = s3::resolve_aws_settings(env, profile ? profile->value : std::string());
  if (!settings) {
    Error e = settings.error();
    e.message = fmt::format("the {} bucket's credentials: {}", name, e.message);
    return e;
  }
  SideResult out;
  out.client.credentials = settings->credentials;

  std::optional<Found> region = given(side_flag + "region");
  if (!region) region = given("--region");
  if (!region && !settings->region.empty())
    region = Found{settings->region, settings->region_source};
  if (!region) region = Found{"us-east-1", "default"};
  out.client.endpoint.region = region->value;

  // TLS: the CA to trust (the flag, else AWS_CA_BUNDLE, else the profile's ca_bundle, as the
  // AWS CLI) and whether to verify at all.
  std::optional<Found> ca = given("--ca-bundle");
  if (!ca && !settings->ca_bundle.empty())
    ca = Found{settings->ca_bundle, settings->ca_bundle_source};
  if (ca) {
    if (::access(ca->value.c_str(), R_OK) != 0) {
      return invalid(
          fmt::format("{} \"{}\"{} cannot be read: name the PEM file of the CA that "
                      "signed the endpoint's certificate",
                      ca->origin == "--ca-bundle" ? "--ca-bundle" : "the CA bundle", ca->value,
                      ca->origin == "--ca-bundle" ? "" : " (from " + ca->origin + ")"));
    }
    out.client.endpoint.ca_bundle = ca->value;
  }
  bool no_verify = flags.contains("--no-verify-ssl");
  if (auto value = env("REHOME_NO_VERIFY_SSL"); value && !no_verify) {
    std::string v = *value;
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (v == "1" || v == "true" || v == "yes" || v == "on") {
      no_verify = true;
    } else if (!(v.empty() || v == "0" || v == "false" || v == "no" || v == "off")) {
      return invalid(
          fmt::format("REHOME_NO_VERIFY_SSL \"{}\" is neither true nor false: give 1 to turn TLS "
                      "verification off, or unset it",
                      *value));
    }
  }
  out.client.endpoint.verify_tls = !no_verify;

  std::optional<Found> endpoint = given(side_flag + "endpoint");
  if (!endpoint) endpoint = given("--endpoint");
  if (!endpoint && !settings->endpoint_url.empty()) {
    endpoint = Found{settings->endpoint_url, settings->endpoint_source};
  }
  if (!endpoint) {
    // AWS itself, on the regional endpoint.
    endpoint = Found{fmt::format("https://s3.{}.amazonaws.com", region->value), "default (AWS)"};
  } else {
    while (!endpoint->value.empty() && endpoint->value.back() == '/') endpoint->value.pop_back();
  }
  out.client.endpoint.url = endpoint->value;
  auto path_style = path_style_for(flags, env, s3::is_aws_endpoint(endpoint->value), bucket);
  if (!path_style) return path_style.error();
  out.client.endpoint.path_style = *path_style;

  if (settings->fetched) {
    // Fetched at start-up (S3Services), refreshed while the job runs. Both buckets with the
    // same source share one: one fetch per refresh, and one identity for server-side copies.
    auto source = s3::with_sts_region(settings->fetched, region->value);
    s3::FetchOptions fetch_options;
    if (auto host = s3::endpoint_host(out.client.endpoint.url)) fetch_options.bucket_host = *host;
    fetch_options.ca_bundle = out.client.endpoint.ca_bundle;
    fetch_options.verify_tls = out.client.endpoint.verify_tls;
    fetch_options.other_ca_bundle = settings->ca_bundle;
    const std::string key = fmt::format("{}\n{}\n{}\n{}\n{}", s3::identity(*source),
                                        fetch_options.bucket_host, fetch_options.ca_bundle,
                                        fetch_options.verify_tls, fetch_options.other_ca_bundle);
    auto& refreshing = shared_sources[key];
    if (!refreshing) {
      // Only the first fetch (at start-up) of a last-resort source names everything tried.
      auto first = std::make_shared<std::atomic<bool>>(true);
      refreshing = std::make_shared<s3::RefreshingCredentials>(
          [source, fetch_options, first]() mutable {
            fetch_options.first_fetch = first->exchange(false);
            return s3::fetch_credentials(*source, fetch_options);
          },
          settings->source);
    }
    out.client.refreshing = refreshing;
  }
  out.client.credentials.source = settings->source;

  out.provenance.push_back({name + " endpoint", endpoint->value, endpoint->origin});
  {
    Found style = pick(flags, env, spec_of("--addressing-style"));
    if (flags.contains("--virtual-hosted")) style.origin = "--virtual-hosted";
    out.provenance.push_back({name + " addressing",
                              out.client.endpoint.path_style ? "path-style" : "virtual-hosted",
                              style.origin == "default" ? "auto" : style.origin});
  }
  if (ca) out.provenance.push_back({name + " CA bundle", ca->value, ca->origin});
  out.provenance.push_back({name + " region", region->value, region->origin});
  out.provenance.push_back({name + " credentials",
                            !settings->fetched ? "access key " + settings->credentials.access_key_id
                                               : s3::kind_name(settings->fetched->kind) +
                                                     " (refreshed before they expire)",
                            settings->source});
  return out;
}

}  // namespace

const std::vector<OptionSpec>& job_options() {
  static const std::vector<OptionSpec> options = {
      {"--database-url", "DATABASE_URL", "",
       "PostgreSQL URI or key=value conninfo (none: libpq's PGHOST, PGPORT, PGUSER...)"},
      {"--table", "REHOME_TABLE", "avatars", "Table holding the paths"},
      {"--id-column", "REHOME_ID_COLUMN", "id", "Integer primary key column"},
      {"--path-column", "REHOME_PATH_COLUMN", "path", "Column holding the object path"},
      {"--state-schema", "REHOME_STATE_SCHEMA", "rehome", "Schema for rehome's own bookkeeping"},
      {"--legacy-bucket", "REHOME_LEGACY_BUCKET", "legacy-s3", "The legacy bucket"},
      {"--legacy-prefix", "REHOME_LEGACY_PREFIX", "image/", "Key prefix in the legacy bucket"},
      {"--production-bucket", "REHOME_PRODUCTION_BUCKET", "production-s3", "The production bucket"},
      {"--production-prefix", "REHOME_PRODUCTION_PREFIX", "avatar/",
       "Key prefix in the production bucket"},
      {"--endpoint", "", "",
       "S3 endpoint URL for both buckets (none: AWS_ENDPOINT_URL, the profile's, else AWS)"},
      {"--legacy-endpoint", "", "", "S3 endpoint of the legacy bucket (none: --endpoint)"},
      {"--production-endpoint", "", "", "S3 endpoint of the production bucket (none: --endpoint)"},
      {"--region", "", "",
       "Region (none: AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1)"},
      {"--legacy-region", "", "", "Region of the legacy bucket (none: --region)"},
      {"--production-region", "", "", "Region of the production bucket (none: --region)"},
      {"--profile", "", "", "AWS profile (none: AWS_PROFILE, else default)"},
      {"--addressing-style", "REHOME_ADDRESSING_STYLE", "auto",
       "auto, path or virtual (auto: virtual-hosted on AWS unless the bucket name has dots, "
       "path-style elsewhere; --virtual-hosted is virtual)"},
      {"--ca-bundle", "", "",
       "PEM file of the CA to trust for HTTPS endpoints (none: AWS_CA_BUNDLE, the profile's "
       "ca_bundle, else the system's store)"},
      {"--legacy-profile", "", "", "AWS profile for the legacy bucket (none: --profile)"},
      {"--production-profile", "", "", "AWS profile for the production bucket (none: --profile)"},
      {"--concurrency", "REHOME_CONCURRENCY", "0",
       "Cap on S3 requests in flight per endpoint (0: none; sized from the rate and the latency, "
       "128 to 512)"},
      {"--ranges", "REHOME_RANGES", "8",
       "Key ranges of the legacy listing listed side by side (a new job is cut into 4x as many)"},
      {"--split-min-keys", "REHOME_SPLIT_MIN_KEYS", "2000",
       "A lane with no range left splits the busiest range when about this many keys are left"},
      {"--list-page-size", "", "1000",
       "Keys per listing page (1-1000; lower only for servers that cap pages, or tests)"},
      {"--max-rps", "REHOME_MAX_RPS", "0",
       "Cap on S3 requests per second per endpoint (0: none; follows the server's throttling)"},
      {"--row-range", "", "5000", "Rows per primary-key range rewritten in one transaction"},
      {"--row-connections", "REHOME_ROW_CONNECTIONS", "2",
       "PostgreSQL connections of this worker rewriting ranges side by side (1: one connection "
       "in all; --row-workers and REHOME_ROW_WORKERS are older names)"},
      {"--lease", "REHOME_LEASE", "15s",
       "How long a worker's claim on part of the job lives without a heartbeat: a killed, "
       "frozen or cut-off worker's work is taken over after it (3s to 10m)"},
      {"--metrics-address", "REHOME_METRICS_ADDRESS", "",
       "Serve Prometheus metrics at http://HOST:PORT/metrics while run or cleanup works "
       "(such as 127.0.0.1:9464, or :9464 for every IPv4 interface; none: not served)"},
      {"--metrics-linger", "REHOME_METRICS_LINGER", "15s",
       "When run or cleanup ends, how long it waits for one more scrape so that the final "
       "totals are read (only if something scraped; 0: exit at once)"},
      {"--acl", "REHOME_ACL", "",
       "Canned ACL for the copies, as the AWS CLI's --acl (none: private; CopyObject does not "
       "carry ACLs)"},
      {"--storage-class", "REHOME_STORAGE_CLASS", "",
       "Storage class of the copies (none: the bucket's default, STANDARD); GLACIER and "
       "DEEP_ARCHIVE are refused"},
      {"--lock-timeout", "REHOME_LOCK_TIMEOUT", "1s",
       "Longest a rewrite waits for a lock (rows the application holds are skipped and retried "
       "once free)"},
      {"--max-streamed-object", "REHOME_MAX_STREAMED_OBJECT", "0",
       "Largest object (bytes) copied through rehome between endpoints, or read to compare "
       "(0: no limit; memory stays bounded either way)"},
      {"--multipart-threshold", "REHOME_MULTIPART_THRESHOLD", "5GiB",
       "Objects of this size or more are copied as multipart uploads (UploadPartCopy on one "
       "endpoint); sizes as the AWS CLI: 8MB is 8 MiB; at most 5GiB (CopyObject's limit)"},
      {"--multipart-chunksize", "REHOME_MULTIPART_CHUNKSIZE", "8MiB",
       "Part size of multipart copies (5MiB to 5GiB; more when 10,000 parts would not hold "
       "the object); a copy through rehome uses parts of at most 64MiB, within its memory "
       "budget"},
  };
  return options;
}

Result<ResolvedConfig> resolve_config(const GivenFlags& flags, const s3::EnvLookup& env) {
  ResolvedConfig out;
  engine::JobConfig& config = out.config;
  auto text = [&](const char* flag, std::string& target, const char* setting) {
    Found found = pick(flags, env, spec_of(flag));
    target = found.value;
    out.provenance.push_back({setting, found.value, found.origin});
  };
  // The database: a conninfo from the flag or DATABASE_URL, else libpq's own PG* variables.
  {
    Found found = pick(flags, env, spec_of("--database-url"));
    config.database.conninfo = found.value;
    if (found.origin == "--database-url" && pg::conninfo_has_password(found.value)) {
      out.warnings.push_back(
          "--database-url carries a password, which every local user can read in "
          "/proc/<pid>/cmdline (ps): give it in PGPASSWORD or ~/.pgpass, or the whole URL in "
          "DATABASE_URL, instead");
    }
    if (found.origin == "default") found.origin = "libpq defaults (PGHOST, PGPORT, PGUSER...)";
    out.provenance.push_back({"database", pg::describe_conninfo(found.value), found.origin});
  }
  text("--table", config.table, "table");
  text("--id-column", config.id_column, "id column");
  text("--path-column", config.path_column, "path column");
  text("--state-schema", config.state_schema, "state schema");
  text("--legacy-bucket", config.legacy.bucket, "legacy bucket");
  text("--legacy-prefix", config.legacy.prefix, "legacy prefix");
  text("--production-bucket", config.production.bucket, "production bucket");
  text("--production-prefix", config.production.prefix, "production prefix");
  // What the copies get beyond what CopyObject carries: shown only when asked for.
  for (auto [flag, target] :
       {std::pair{"--acl", &config.acl}, std::pair{"--storage-class", &config.storage_class}}) {
    Found found = pick(flags, env, spec_of(flag));
    *target = found.value;
    if (found.origin != "default") out.provenance.push_back({flag + 2, found.value, found.origin});
  }
  SharedSources shared_sources;
  for (auto [side, name] :
       {std::pair{&config.legacy, "legacy"}, std::pair{&config.production, "production"}}) {
    auto resolved = resolve_side(flags, env, name, side->bucket, shared_sources);
    if (!resolved) return resolved.error();
    side->client = std::move(resolved->client);
    for (auto& p : resolved->provenance) out.provenance.push_back(std::move(p));
  }
  if (!config.legacy.client.endpoint.verify_tls) {
    out.provenance.push_back(
        {"TLS verification", "OFF",
         flags.contains("--no-verify-ssl") ? "--no-verify-ssl" : "REHOME_NO_VERIFY_SSL"});
    out.warnings.push_back(fmt::format(
        "TLS certificates are NOT verified ({}): anyone on the network path can impersonate the "
        "S3 endpoints, read the objects and change them in transit; for a private CA, give its "
        "certificate with --ca-bundle FILE instead",
        flags.contains("--no-verify-ssl") ? "--no-verify-ssl" : "REHOME_NO_VERIFY_SSL"));
  }

  // Tuning: numbers, shown only when not the default.
  auto number = [&]<typename T>(const char* flag, T& target, const char* what) -> Status {
    Found found = pick(flags, env, spec_of(flag));
    auto parsed = parse_number<T>(found, flag, what);
    if (!parsed) return parsed.error();
    target = *parsed;
    if (found.origin != "default") out.provenance.push_back({flag + 2, found.value, found.origin});
    return Ok{};
  };
  for (auto st :
       {number("--concurrency", config.concurrency, "a whole number"),
        number("--ranges", config.ranges, "a whole number"),
        number("--split-min-keys", config.split_min_keys, "a whole number"),
        number("--list-page-size", config.list_page_size, "a whole number"),
        number("--max-rps", config.max_rps, "a number"),
        number("--row-range", config.row_range, "a whole number"),

        number("--max-streamed-object", config.max_streamed_object, "a number of bytes")}) {
    if (!st) return st.error();
  }
  {
    // The older name, and its variable, still work (a worker now means a process).
    Found found = pick(flags, env, spec_of("--row-connections"));
    if (found.origin == "default") {
      if (auto old = env("REHOME_ROW_WORKERS"); old && !old->empty()) {
        found = Found{*old, "REHOME_ROW_WORKERS"};
      }
    }
    auto parsed = parse_number<std::size_t>(found, "--row-connections", "a whole number");
    if (!parsed) return parsed.error();
    config.row_connections = *parsed;
    if (found.origin != "default") {
      out.provenance.push_back({"row-connections", found.value, found.origin});
    }
  }
  for (auto [flag, target] : {std::pair{"--multipart-threshold", &config.multipart_threshold},
                              std::pair{"--multipart-chunksize", &config.multipart_chunksize}}) {
    Found found = pick(flags, env, spec_of(flag));
    auto parsed = parse_size(found.value);
    if (!parsed) {
      return invalid(fmt::format("{} {}{}", flag, parsed.error().message,
                                 found.origin == flag ? "" : " (from " + found.origin + ")"));
    }
    *target = *parsed;
    if (found.origin != "default") out.provenance.push_back({flag + 2, found.value, found.origin});
  }
  {
    Found found = pick(flags, env, spec_of("--metrics-address"));
    if (!found.value.empty()) {
      if (auto st = metrics::check_address(found.value); !st) {
        return invalid(st.error().message +
                       (found.origin == "--metrics-address" ? "" : " (from " + found.origin + ")"));
      }
      config.metrics_address = found.value;
      out.provenance.push_back({"metrics address", found.value, found.origin});
    }
  }
  // Durations, each read the same way; shown at start-up when not the default (the linger
  // only when metrics are served).
  struct DurationSetting {
    const char* flag;
    const char* setting;
    std::chrono::seconds* target;
    bool shown;
  };
  for (const DurationSetting& d :
       {DurationSetting{"--lock-timeout", "lock-timeout", &config.lock_timeout, true},
        DurationSetting{"--lease", "lease", &config.lease, true},
        DurationSetting{"--metrics-linger", "metrics linger", &config.metrics_linger,
                        !config.metrics_address.empty()}}) {
    Found found = pick(flags, env, spec_of(d.flag));
    auto parsed = parse_duration(found.value);
    if (!parsed) {
      return invalid(fmt::format("{} \"{}\"{}: {}", d.flag, found.value,
                                 found.origin == d.flag ? "" : " (from " + found.origin + ")",
                                 parsed.error().message));
    }
    *d.target = *parsed;
    if (found.origin != "default" && d.shown) {
      out.provenance.push_back({d.setting, found.value, found.origin});
    }
  }
  if (auto st = engine::validate(config); !st) return st.error();
  return out;
}

std::vector<std::string> describe(const std::vector<Provenance>& provenance) {
  std::vector<std::string> lines;
  lines.reserve(provenance.size());
  for (const auto& p : provenance) {
    lines.push_back(
        fmt::format("{}: {} (from {})", p.setting, p.value.empty() ? "(none)" : p.value, p.origin));
  }
  return lines;
}

}  // namespace rehome::cli
