#include "cli/app.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/duration.h"
#include "cli/report.h"
#include "cli/settings.h"
#include "cli/version.h"
#include "engine/commands.h"
#include "engine/status.h"
#include "metrics/metrics.h"
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

/// What the command line holds besides the job options (those are in `options`, by flag).
struct Flags {
  std::map<std::string, std::string> options;  // Bound storage; only given ones count.
  std::string report;
  std::string progress = "auto";
  bool relist = false;
  bool change_settings = false;
  std::string grace = "24h";
  bool dry_run = false;
  bool json = false;
};

/// The job options of one command, so that only the command that ran says what was given.
using GivenOptions = std::vector<CLI::Option*>;

GivenOptions add_job_options(CLI::App& cmd, Flags& f) {
  GivenOptions added;
  // No CLI11 envname: it fills the options of every subcommand, parsed or not, and those share
  // their storage, so an environment variable overrode a flag. settings.cc resolves the order.
  for (const auto& spec : job_options()) {
    std::string help = spec.help;
    if (spec.env[0] != '\0') help += fmt::format(" [env {}]", spec.env);
    if (spec.default_value[0] != '\0') help += fmt::format(" [default {}]", spec.default_value);
    // Every value is read as text and parsed by settings.cc; the help says what it takes.
    const std::string_view flag = spec.flag;
    const char* type = flag == "--database-url"                                          ? "URL"
                       : flag.ends_with("endpoint")                                      ? "URL"
                       : std::isdigit(static_cast<unsigned char>(spec.default_value[0])) ? "NUMBER"
                                                                                         : "TEXT";
    // Older names kept working: --row-workers (before a worker meant a process).
    const std::string names =
        flag == "--row-connections" ? "--row-connections,--row-workers" : spec.flag;
    added.push_back(cmd.add_option(names, f.options[spec.flag], help)->type_name(type));
  }
  added.push_back(
      cmd.add_flag("--virtual-hosted")
          ->description(
              "Same as --addressing-style virtual: virtual-hosted addressing (bucket.host)"));
  added.push_back(cmd.add_flag("--no-verify-ssl")
                      ->description("Do not verify the endpoints' TLS certificates (insecure: "
                                    "prefer --ca-bundle for a private CA) [env "
                                    "REHOME_NO_VERIFY_SSL]"));
  cmd.add_option("--report", f.report, "Also write the summary as JSON to this file");
  cmd.add_option("--progress", f.progress, "Progress output: auto, line, json or none")
      ->check(CLI::IsMember({"auto", "line", "json", "none"}))
      ->capture_default_str();
  return added;
}

GivenFlags given_flags(const GivenOptions& options, const Flags& f) {
  GivenFlags given;
  for (const CLI::Option* option : options) {
    if (option->count() == 0) continue;
    const std::string flag = option->get_name();
    auto it = f.options.find(flag);
    given[flag] = it != f.options.end() ? it->second : "true";
  }
  return given;
}

// The start-up lines: what the command will touch and where each setting came from (no
// secrets), so an operator sees the database and buckets before anything happens. A JSON line
// when progress is JSON lines, so the stream stays parseable.
void print_startup(const std::string& command, const ResolvedConfig& resolved, bool json) {
  if (json) {
    nlohmann::json settings = nlohmann::json::array();
    for (const auto& p : resolved.provenance) {
      settings.push_back({{"setting", p.setting}, {"value", p.value}, {"from", p.origin}});
    }
    nlohmann::json line = {{"event", "start"},
                           {"command", command},
                           {"settings", settings},
                           {"warnings", resolved.warnings}};
    fmt::print(stderr, "{}\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    for (const auto& warning : resolved.warnings) {
      fmt::print(stderr, "rehome {}: warning: {}\n", command, warning);
    }
    fmt::print(stderr, "rehome {}: starting with\n", command);
    for (const auto& line : describe(resolved.provenance)) fmt::print(stderr, "  {}\n", line);
  }
  std::fflush(stderr);
}

// Where the metrics are (the port picked, when the address asked for port 0).
void print_metrics_url(const std::string& command, const std::string& address, int port,
                       bool json) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.empty()) host = "0.0.0.0";
  const std::string url = fmt::format("http://{}:{}/metrics", host, port);
  if (json) {
    fmt::print(stderr, "{}\n", nlohmann::json{{"event", "metrics"}, {"url", url}}.dump());
  } else {
    fmt::print(stderr, "rehome {}: serving metrics at {}\n", command, url);
  }
  std::fflush(stderr);
}

// `rehome status`: reads, prints, and says by its exit status whether the job is done.
int status_command(const engine::JobConfig& config, bool json) {
  auto status = engine::read_status(config);
  if (!status) {
    fmt::print(stderr, "rehome: error: {}\n", status.error().message);
    return status.error().kind == ErrorKind::kInvalidInput ? engine::kExitUsage
                                                           : engine::kExitFailed;
  }
  if (json) {
    fmt::print("{}\n", engine::to_json(*status).dump(2, ' ', false,
                                                     nlohmann::json::error_handler_t::replace));
  } else {
    for (const auto& line : engine::describe(*status)) fmt::print("{}\n", line);
  }
  return engine::status_exit(*status);
}

int run_command(const std::string& name, const Flags& f, const GivenFlags& given) {
  auto resolved = resolve_config(given, s3::process_environment());
  if (!resolved) {
    fmt::print(stderr, "rehome: error: {}\n", resolved.error().message);
    return engine::kExitUsage;
  }
  const engine::JobConfig& config = resolved->config;
  if (name == "status") return status_command(config, f.json);
  std::optional<std::chrono::seconds> grace;
  if (name == "cleanup") {
    auto parsed = parse_duration(f.grace);
    if (!parsed) {
      fmt::print(stderr, "rehome: error: --grace: {}\n", parsed.error().message);
      return engine::kExitUsage;
    }
    grace = *parsed;
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
  const bool json = f.progress == "json" || (f.progress == "auto" && !terminal);
  if (f.progress != "none") {
    hooks.progress_out = stderr;
    hooks.progress_terminal = !json;
  }
  // Metrics are served from before the work starts to the end of the process; an address in
  // use is refused now, like any other setting.
  std::unique_ptr<metrics::Metrics> served;
  if (!config.metrics_address.empty() && (name == "run" || name == "cleanup")) {
    auto m = metrics::Metrics::serve(config.metrics_address);
    if (!m) {
      fmt::print(stderr, "rehome: error: {}\n", m.error().message);
      return engine::kExitUsage;
    }
    served = std::move(m.value());
    hooks.metrics = served.get();
  }
  print_startup(name, *resolved, json && f.progress != "none");
  if (served) print_metrics_url(name, config.metrics_address, served->port(), json);
  engine::Summary summary;
  if (name == "run") {
    engine::JobConfig run_config = config;
    run_config.relist = f.relist;
    run_config.change_settings = f.change_settings;
    summary = engine::run(run_config, hooks);
  } else if (name == "plan") {
    summary = engine::plan(config, hooks);
  } else if (name == "verify") {
    summary = engine::verify(config, hooks);
  } else {
    summary = engine::cleanup(config, engine::CleanupOptions{*grace, f.dry_run}, hooks);
  }
  print_summary(summary);
  // A scraper that has been reading the metrics gets the final totals before they go; not
  // after a stop signal (a pod being drained has a grace period to keep).
  if (served && served->scraped() && config.metrics_linger.count() > 0 && g_stop_signals == 0) {
    if (!json) {
      fmt::print(stderr, "rehome {}: waiting up to {}s for a last scrape of the metrics\n", name,
                 config.metrics_linger.count());
    }
    served->await_scrape(config.metrics_linger);
  }
  if (!f.report.empty()) {
    if (auto st = write_report(f.report, report_json(summary)); !st) {
      fmt::print(stderr, "rehome: error: {}\n", st.error().message);
      return engine::kExitFailed;
    }
  }
  return engine::exit_status(summary);
}

int parse_and_run(int argc, char** argv) {
  CLI::App app{
      "rehome: move objects from a legacy S3 bucket to a production bucket and rewrite the "
      "PostgreSQL rows that reference them, without ever pointing a row at a missing object.\n"
      "Each setting comes from its flag, else its environment variable, else the AWS profile, "
      "else its default; every command says at start-up which it used."};
  app.require_subcommand(1);
  // Trailing newline dropped: CLI11 adds its own.
  app.set_version_flag("--version", [] {
    std::string text = version_text();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  });
  Flags flags;
  auto* run = app.add_subcommand(
      "run", "Copy every legacy object and rewrite every legacy row (deletes nothing)");
  auto* plan = app.add_subcommand("plan", "Dry run: count what run would do; writes nothing");
  auto* verify =
      app.add_subcommand("verify", "Read-only audit: does every row name an existing object?");
  auto* cleanup = app.add_subcommand("cleanup", "Delete legacy objects that are safely migrated");
  auto* status = app.add_subcommand(
      "status", "Read-only view of a job from any machine: ranges, workers alive, progress, ETA");
  std::vector<std::pair<CLI::App*, GivenOptions>> commands;
  for (auto* cmd : {run, plan, verify, cleanup, status}) {
    commands.emplace_back(cmd, add_job_options(*cmd, flags));
  }
  run->add_flag("--relist", flags.relist,
                "List the legacy bucket again even if a previous run finished it");
  run->add_flag("--change-settings", flags.change_settings,
                "Record this run's --acl, --storage-class and multipart settings for the job, "
                "replacing those it started with (stop every other worker first)");
  cleanup
      ->add_option("--grace", flags.grace,
                   "Time since the last rewrite of a reference before deleting")
      ->capture_default_str();
  cleanup->add_flag("--dry-run", flags.dry_run, "Count what would be deleted; delete nothing");
  status->add_flag("--json", flags.json, "Print the status as one JSON document");
  app.footer(
      "Exit status: 0 done, 1 failed, 2 bad usage (or settings that differ from the job's), 3 "
      "finished with conflicts/broken references/failures, 4 verify found rows naming missing "
      "objects, 5 status: the job is under way or was stopped before it finished, 130 "
      "interrupted (rerun to resume).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : engine::kExitUsage;
  }
  for (const auto& [cmd, options] : commands) {
    if (cmd->parsed()) return run_command(cmd->get_name(), flags, given_flags(options, flags));
  }
  return engine::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // The last line of defence: an exception that escaped (a bug, or memory exhausted) still ends
  // with rehome's one error format and exit status 1, not an abort. The state in PostgreSQL is
  // as safe as after a kill: the next run resumes.
  try {
    return parse_and_run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr,
               "rehome: error: internal error: {} (nothing is lost: rerun to resume; please "
               "report this with the command line, without secrets)\n",
               e.what());
  } catch (...) {
    fmt::print(stderr,
               "rehome: error: internal error (nothing is lost: rerun to resume; please report "
               "this with the command line, without secrets)\n");
  }
  return engine::kExitFailed;
}

}  // namespace rehome::cli
