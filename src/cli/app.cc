#include "cli/app.h"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/duration.h"
#include "engine/commands.h"
#include "s3/credentials.h"

namespace rehome::cli {

namespace {

volatile std::sig_atomic_t g_stop_signals = 0;  // The one global: written by signal handlers.

extern "C" void on_stop_signal(int) {
  // First signal: finish what is in flight and stop. Second: stop now (rerun resumes).
  g_stop_signals = g_stop_signals + 1;
  if (g_stop_signals > 1) _exit(engine::kExitInterrupted);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

/// Flags for one bucket side; empty strings mean "not given".
struct SideFlags {
  std::string bucket, prefix, endpoint, region, profile;
};

struct Flags {
  std::string database_url;
  std::string table = "avatars", id_column = "id", path_column = "path", state_schema = "rehome";
  SideFlags legacy{"legacy-s3", "image/", "", "", ""};
  SideFlags production{"production-s3", "avatar/", "", "", ""};
  std::string endpoint, region, profile;
  bool virtual_hosted = false;
  std::size_t concurrency = 128;
  std::size_t ranges = 8;
  std::size_t split_min_keys = 2000;
  int list_page_size = 1000;
  double max_rps = 0;
  std::int64_t row_range = 5000;
  std::size_t row_workers = 2;
  std::string report;
  std::string progress = "auto";
  bool relist = false;
  std::string grace = "24h";
  bool dry_run = false;
};

void add_common_flags(CLI::App& cmd, Flags& f) {
  cmd.add_option("--database-url", f.database_url,
                 "PostgreSQL URI or key=value conninfo (default: DATABASE_URL, else PG* variables)")
      ->envname("DATABASE_URL");
  // Every job setting can also come from a REHOME_* variable (flags win).
  cmd.add_option("--table", f.table, "Table holding the paths")
      ->envname("REHOME_TABLE")
      ->capture_default_str();
  cmd.add_option("--id-column", f.id_column, "Integer primary key column")
      ->envname("REHOME_ID_COLUMN")
      ->capture_default_str();
  cmd.add_option("--path-column", f.path_column, "Column holding the object path")
      ->envname("REHOME_PATH_COLUMN")
      ->capture_default_str();
  cmd.add_option("--state-schema", f.state_schema, "Schema for rehome's own bookkeeping")
      ->envname("REHOME_STATE_SCHEMA")
      ->capture_default_str();
  for (auto [side, name] :
       {std::pair{&f.legacy, "legacy"}, std::pair{&f.production, "production"}}) {
    const std::string env = name == std::string("legacy") ? "REHOME_LEGACY_" : "REHOME_PRODUCTION_";
    cmd.add_option(fmt::format("--{}-bucket", name), side->bucket,
                   fmt::format("The {} bucket", name))
        ->envname(env + "BUCKET")
        ->capture_default_str();
    cmd.add_option(fmt::format("--{}-prefix", name), side->prefix,
                   fmt::format("Key prefix in the {} bucket", name))
        ->envname(env + "PREFIX")
        ->capture_default_str();
    cmd.add_option(fmt::format("--{}-endpoint", name), side->endpoint,
                   fmt::format("S3 endpoint of the {} bucket (default: --endpoint)", name));
    cmd.add_option(fmt::format("--{}-region", name), side->region,
                   fmt::format("Region of the {} bucket (default: --region)", name));
    cmd.add_option(fmt::format("--{}-profile", name), side->profile,
                   fmt::format("AWS profile for the {} bucket (default: --profile)", name));
  }
  cmd.add_option("--endpoint", f.endpoint,
                 "S3 endpoint URL for both buckets (default: AWS_ENDPOINT_URL, else AWS)");
  cmd.add_option("--region", f.region,
                 "Region (default: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1)");
  cmd.add_option("--profile", f.profile, "AWS profile (default: AWS_PROFILE, else default)");
  cmd.add_flag("--virtual-hosted", f.virtual_hosted,
               "Virtual-hosted addressing (bucket.host) instead of path-style; the default on AWS");
  cmd.add_option("--concurrency", f.concurrency, "S3 requests in flight")
      ->envname("REHOME_CONCURRENCY")
      ->capture_default_str();
  cmd.add_option(
         "--ranges", f.ranges,
         "Key ranges of the legacy listing listed side by side (a new job is cut into 4x as many)")
      ->envname("REHOME_RANGES")
      ->capture_default_str();
  cmd.add_option("--split-min-keys", f.split_min_keys,
                 "A lane with no range left splits the busiest range when about this many keys are "
                 "left in it")
      ->envname("REHOME_SPLIT_MIN_KEYS")
      ->capture_default_str();
  cmd.add_option("--list-page-size", f.list_page_size,
                 "Keys per listing page (1-1000; lower only for servers that cap pages, or tests)")
      ->capture_default_str();
  cmd.add_option("--max-rps", f.max_rps, "Cap on S3 requests per second (0: none)")
      ->envname("REHOME_MAX_RPS")
      ->capture_default_str();
  cmd.add_option("--row-range", f.row_range,
                 "Rows per primary-key range rewritten in one transaction")
      ->capture_default_str();
  cmd.add_option("--row-workers", f.row_workers,
                 "PostgreSQL connections rewriting ranges side by side (1: one connection in all)")
      ->envname("REHOME_ROW_WORKERS")
      ->capture_default_str();
  cmd.add_option("--report", f.report, "Also write the summary as JSON to this file");
  cmd.add_option("--progress", f.progress, "Progress output: auto, line, json or none")
      ->check(CLI::IsMember({"auto", "line", "json", "none"}))
      ->capture_default_str();
}

Result<s3::ClientConfig> side_client(const Flags& f, const SideFlags& side,
                                     const s3::EnvLookup& env) {
  const std::string& profile = !side.profile.empty() ? side.profile : f.profile;
  auto settings = s3::resolve_aws_settings(env, profile);
  if (!settings) return settings.error();
  s3::ClientConfig client;
  client.credentials = settings->credentials;
  std::string endpoint = !side.endpoint.empty() ? side.endpoint
                         : !f.endpoint.empty()  ? f.endpoint
                                                : settings->endpoint_url;
  std::string region = !side.region.empty() ? side.region
                       : !f.region.empty()  ? f.region
                                            : settings->region;
  client.endpoint.region = region.empty() ? "us-east-1" : region;
  if (endpoint.empty()) {
    // AWS itself: virtual-hosted addressing on the regional endpoint.
    client.endpoint.url = fmt::format("https://s3.{}.amazonaws.com", client.endpoint.region);
    client.endpoint.path_style = false;
  } else {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    client.endpoint.url = endpoint;
    client.endpoint.path_style = !f.virtual_hosted;
  }
  return client;
}

Result<engine::JobConfig> make_config(const Flags& f) {
  engine::JobConfig config;
  config.database.conninfo = f.database_url;
  config.table = f.table;
  config.id_column = f.id_column;
  config.path_column = f.path_column;
  config.state_schema = f.state_schema;
  auto env = s3::process_environment();
  for (auto [side, flags] :
       {std::pair{&config.legacy, &f.legacy}, std::pair{&config.production, &f.production}}) {
    side->bucket = flags->bucket;
    side->prefix = flags->prefix;
    auto client = side_client(f, *flags, env);
    if (!client) return client.error();
    side->client = std::move(client.value());
  }
  config.concurrency = f.concurrency;
  config.ranges = f.ranges;
  config.split_min_keys = f.split_min_keys;
  config.list_page_size = f.list_page_size;
  config.max_rps = f.max_rps;
  config.row_range = f.row_range;
  config.row_workers = f.row_workers;
  config.relist = f.relist;
  if (auto st = engine::validate(config); !st) return st.error();
  return config;
}

Error report_error(const std::string& path, const char* what) {
  return Error{ErrorKind::kInvalidInput,
               fmt::format("cannot write the report to {}: {}: {}: choose a writable path", path,
                           what, std::strerror(errno)),
               "", 0, -1};
}

std::string parent_directory(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// Fails unless the report's directory can take a new file (and an existing report can be
/// replaced), without creating or truncating anything.
Status check_report_path(const std::string& path) {
  if (::access(parent_directory(path).c_str(), W_OK | X_OK) != 0) {
    return report_error(path, "its directory is not writable");
  }
  if (::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), W_OK) != 0) {
    return report_error(path, "the existing file is not writable");
  }
  return Ok{};
}

/// Writes the report to a temporary file beside `path`, then renames it into place.
Status write_report(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
  std::FILE* out = std::fopen(temporary.c_str(), "w");
  if (!out) return report_error(path, "creating the temporary file failed");
  bool ok = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  ok = std::fflush(out) == 0 && ok;
  ok = std::fclose(out) == 0 && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return report_error(path, "writing it failed");
  }
  return Ok{};
}

void print_summary(const engine::Summary& s) {
  std::FILE* out = stdout;
  fmt::print(out, "rehome {}: {} in {:.1f}s\n", s.command, s.outcome, s.seconds);
  if (s.command == "run") {
    if (s.objects_seconds > 0) {
      fmt::print(out, "  time: objects {:.1f}s, rows {:.1f}s\n", s.objects_seconds, s.rows_seconds);
    }
    if (s.outcome == "complete" && s.objects_copied == 0 && s.rows_rewritten == 0) {
      fmt::print(out,
                 "  nothing to do: every legacy object has its twin and every row is rewritten\n");
    }
    fmt::print(
        out,
        "  objects: {} listed, {} copied, {} already copied, {} conflicts, {} missing, {} failed\n",
        s.objects_listed, s.objects_copied, s.objects_already_copied, s.objects_conflict,
        s.objects_missing, s.objects_failed);
    if (s.ranges_split > 0) {
      fmt::print(out, "  listing: {} key ranges split to keep every lane busy\n", s.ranges_split);
    }
    fmt::print(
        out,
        "  rows: {} rewritten, {} still legacy ({} conflict, {} broken reference, {} failed), "
        "{} production, left alone: {} null, {} empty, {} other\n",
        s.rows_rewritten, s.rows_pending, s.rows_conflict, s.rows_broken, s.rows_failed,
        s.rows_production, s.rows_null, s.rows_empty, s.rows_other);
  } else if (s.command == "plan") {
    fmt::print(out,
               "  rows to rewrite: {}; objects to copy: {}; already copied: {}; unreferenced "
               "objects: {}\n",
               s.rows_pending, s.objects_to_copy, s.objects_already_copied, s.objects_unreferenced);
    fmt::print(
        out,
        "  conflicts: {}; broken references: {}; rows left alone: {} null, {} empty, {} other; "
        "rows already production: {}\n",
        s.objects_conflict, s.rows_broken, s.rows_null, s.rows_empty, s.rows_other,
        s.rows_production);
  } else if (s.command == "verify") {
    fmt::print(out,
               "  rows naming a missing object: {}; rows still legacy: {} ({} broken references); "
               "conflicts: {}; legacy objects still present: {}\n",
               s.rows_dangling, s.rows_pending, s.rows_broken, s.objects_conflict,
               s.legacy_objects_present);
  } else if (s.command == "cleanup") {
    fmt::print(out, "  legacy objects deleted: {}; kept (not yet safe): {}\n", s.objects_deleted,
               s.objects_kept);
  }
  if (s.requests > 0) {
    fmt::print(out, "  S3 requests: {} ({} retries, {} throttled)\n", s.requests, s.retries,
               s.throttled);
  }
  for (const auto& p : s.problems) fmt::print(out, "  - {}\n", p);
  std::fflush(out);
  if (!s.error.empty()) fmt::print(stderr, "rehome: error: {}\n", s.error);
}

int run_command(const std::string& name, const Flags& f) {
  auto config = make_config(f);
  if (!config) {
    fmt::print(stderr, "rehome: error: {}\n", config.error().message);
    return engine::kExitUsage;
  }
  // An unwritable report path is found now, not after hours of work; the report itself is
  // written at the end, beside the target and renamed over it, so a killed run never leaves an
  // empty or half-written report in place of an earlier one.
  if (!f.report.empty()) {
    if (auto st = check_report_path(f.report); !st) {
      fmt::print(stderr, "rehome: error: {}\n", st.error().message);
      return engine::kExitUsage;
    }
  }
  install_signal_handlers();
  engine::CommandHooks hooks;
  hooks.stop_requested = [] { return g_stop_signals > 0; };
  const bool terminal = isatty(STDERR_FILENO) == 1;
  if (f.progress != "none") {
    hooks.progress_out = stderr;
    hooks.progress_terminal = f.progress == "line" || (f.progress == "auto" && terminal);
  }
  engine::Summary summary;
  if (name == "run") {
    summary = engine::run(*config, hooks);
  } else if (name == "plan") {
    summary = engine::plan(*config, hooks);
  } else if (name == "verify") {
    summary = engine::verify(*config, hooks);
  } else {
    auto grace = parse_duration(f.grace);
    if (!grace) {
      fmt::print(stderr, "rehome: error: --grace: {}\n", grace.error().message);
      return engine::kExitUsage;
    }
    summary = engine::cleanup(*config, engine::CleanupOptions{*grace, f.dry_run}, hooks);
  }
  print_summary(summary);
  if (!f.report.empty()) {
    if (auto st = write_report(f.report, summary.to_json().dump(2) + "\n"); !st) {
      fmt::print(stderr, "rehome: error: {}\n", st.error().message);
      return engine::kExitFailed;
    }
  }
  return engine::exit_status(summary);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "rehome: move objects from a legacy S3 bucket to a production bucket and rewrite the "
      "PostgreSQL rows that reference them, without ever pointing a row at a missing object."};
  app.require_subcommand(1);
  Flags flags;
  auto* run = app.add_subcommand(
      "run", "Copy every legacy object and rewrite every legacy row (deletes nothing)");
  auto* plan = app.add_subcommand("plan", "Dry run: count what run would do; writes nothing");
  auto* verify =
      app.add_subcommand("verify", "Read-only audit: does every row name an existing object?");
  auto* cleanup = app.add_subcommand("cleanup", "Delete legacy objects that are safely migrated");
  for (auto* cmd : {run, plan, verify, cleanup}) add_common_flags(*cmd, flags);
  run->add_flag("--relist", flags.relist,
                "List the legacy bucket again even if a previous run finished it");
  cleanup
      ->add_option("--grace", flags.grace,
                   "Time since the last rewrite of a reference before deleting")
      ->capture_default_str();
  cleanup->add_flag("--dry-run", flags.dry_run, "Count what would be deleted; delete nothing");
  app.footer(
      "Exit status: 0 done, 1 failed, 2 bad usage, 3 finished with conflicts/broken references/"
      "failures, 4 verify found rows naming missing objects, 130 interrupted (rerun to resume).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : engine::kExitUsage;
  }
  for (auto* cmd : {run, plan, verify, cleanup}) {
    if (cmd->parsed()) return run_command(cmd->get_name(), flags);
  }
  return engine::kExitUsage;
}

}  // namespace rehome::cli
