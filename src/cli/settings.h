// Where each setting of a command comes from. The command line wins over the environment, the
// environment over an AWS profile, and a profile over the built-in default: the order of the AWS
// CLI, rclone and libpq, and the one an operator relies on when overriding one run with a flag.
// Resolution is a pure function of the flags given and an environment lookup, so the whole
// precedence table is tested without a process environment.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/config.h"
#include "s3/credentials.h"
#include "util/result.h"

namespace rehome::cli {

/// One option every command takes: its flag, the environment variable that stands in for it
/// (empty: none) and its default ("" = none; the meaning of none is in the help text).
struct OptionSpec {
  const char* flag;
  const char* env;
  const char* default_value;
  const char* help;
};

/// Every job option shared by run, plan, verify and cleanup, in --help order.
const std::vector<OptionSpec>& job_options();

/// The options the command line gave, by flag ("--table" -> "avatars"); absent = not given.
using GivenFlags = std::map<std::string, std::string>;

/// Where one setting's value came from, for the start-up lines: never holds a secret.
struct Provenance {
  std::string setting;  ///< "table", "legacy endpoint"...
  std::string value;    ///< As used ("" shown as "(none)").
  std::string origin;   ///< "--table", "REHOME_TABLE", "profile dev in ~/.aws/config", "default"
};

struct ResolvedConfig {
  engine::JobConfig config;
  std::vector<Provenance> provenance;
  /// Printed at start-up before the settings: a setting that works but is unsafe.
  std::vector<std::string> warnings;
};

/// Builds the job's configuration from the given flags, then the environment (`env`), then AWS
/// profiles, then defaults, and validates it (engine::validate). Fails with kInvalidInput
/// naming the setting, the value, where it came from and what to do.
Result<ResolvedConfig> resolve_config(const GivenFlags& flags, const s3::EnvLookup& env);

/// The start-up lines: what the command will touch and where each setting came from.
std::vector<std::string> describe(const std::vector<Provenance>& provenance);

}  // namespace rehome::cli
