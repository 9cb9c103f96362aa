// AWS settings as the AWS CLI finds them, minus what rehome does not need (SSO, assume-role,
// instance metadata). The INI dialect is botocore's: '#' and ';' comment lines, keys
// lower-cased, "[profile NAME]" in the config file but "[NAME]" in the credentials file,
// indented lines under an empty key are a nested block (ignored here). Values are taken
// verbatim (no inline comments), as botocore does.
#include "s3/credentials.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <sstream>
#include <system_error>

namespace rehome::s3 {

namespace {

using Section = std::map<std::string, std::string>;
using IniFile = std::map<std::string, Section>;

std::string_view trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Section names keep their case; runs of blanks collapse so "[profile   dev]" is "profile dev".
std::string section_name(std::string_view text) {
  std::string out;
  for (char c : trim(text)) {
    bool blank = c == ' ' || c == '\t';
    if (blank && (out.empty() || out.back() == ' ')) continue;
    out.push_back(blank ? ' ' : c);
  }
  return out;
}

IniFile parse_ini(std::string_view text) {
  IniFile ini;
  Section* section = nullptr;
  bool in_nested_block = false;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view raw = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);

    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    bool indented = raw.front() == ' ' || raw.front() == '\t';
    if (indented && in_nested_block) continue;  // "s3 =\n  addressing_style = path"
    in_nested_block = false;
    if (line.front() == '[' && line.back() == ']') {
      section = &ini[section_name(line.substr(1, line.size() - 2))];
      continue;
    }
    auto equals = line.find_first_of("=:");
    if (section == nullptr || equals == std::string_view::npos) continue;
    auto key = lower(trim(line.substr(0, equals)));
    auto value = trim(line.substr(equals + 1));
    if (value.empty()) in_nested_block = true;
    (*section)[key] = std::string(value);
  }
  return ini;
}

// One file we looked at, for reading and for the message when nothing is found.
struct SettingsFile {
  std::string path;  // Empty when there is no way to name it (no HOME).
  bool exists = false;
  IniFile ini;
};

Error invalid(std::string message) {
  Error error;
  error.kind = ErrorKind::kInvalidInput;
  error.message = std::move(message);
  return error;
}

Result<SettingsFile> load(const EnvLookup& env, const char* override_var,
                          const char* default_name) {
  SettingsFile file;
  if (auto path = env(override_var); path && !path->empty()) {
    file.path = *path;
  } else if (auto home = env("HOME"); home && !home->empty()) {
    file.path = *home + "/.aws/" + default_name;
  } else {
    return file;
  }
  std::error_code ec;
  if (!std::filesystem::exists(file.path, ec)) return file;
  std::ifstream in(file.path, std::ios::binary);
  if (!in.is_open()) return invalid("cannot read " + file.path + ": check its permissions");
  // Not `stream << rdbuf()`: that fails on an empty file, which is a valid (empty) settings file.
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return invalid("cannot read " + file.path + ": check its permissions");
  file.exists = true;
  file.ini = parse_ini(text);
  return file;
}

const Section* find_section(const SettingsFile& file, const std::string& name) {
  auto it = file.ini.find(name);
  return it == file.ini.end() ? nullptr : &it->second;
}

std::string value_of(const Section* section, const char* key) {
  if (section == nullptr) return {};
  auto it = section->find(key);
  return it == section->end() ? std::string() : it->second;
}

std::string describe(const SettingsFile& file) {
  if (file.path.empty()) return "(no HOME, no file)";
  return file.path + (file.exists ? "" : " (not found)");
}

std::optional<std::string> non_empty(const EnvLookup& env, const char* name) {
  auto value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<AwsSettings> resolve_aws_settings(const EnvLookup& env, std::string_view profile) {
  AwsSettings settings;
  const bool explicit_profile = !profile.empty();
  const auto env_profile = non_empty(env, "AWS_PROFILE");
  settings.profile = explicit_profile ? std::string(profile) : env_profile.value_or("default");
  const bool named_profile = explicit_profile || env_profile.has_value();
  const std::string profile_origin = explicit_profile ? ""
                                     : env_profile    ? " (from AWS_PROFILE)"
                                                      : "";

  auto credentials_file = load(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  if (!credentials_file) return credentials_file.error();
  auto config_file = load(env, "AWS_CONFIG_FILE", "config");
  if (!config_file) return config_file.error();

  const Section* from_credentials = find_section(credentials_file.value(), settings.profile);
  const Section* from_config = find_section(config_file.value(), "profile " + settings.profile);
  if (from_config == nullptr && settings.profile == "default")
    from_config = find_section(config_file.value(), "default");
  const std::string tried =
      describe(credentials_file.value()) + " and " + describe(config_file.value());
  if (named_profile && from_credentials == nullptr && from_config == nullptr) {
    return invalid("profile " + settings.profile + profile_origin + " not found in " + tried);
  }

  // The credentials file wins over the config file for the same key, as in botocore.
  auto profile_value = [&](const char* key) {
    auto value = value_of(from_credentials, key);
    return value.empty() ? value_of(from_config, key) : value;
  };
  auto source_of = [&](const char* key) {
    return value_of(from_credentials, key).empty() ? config_file->path : credentials_file->path;
  };

  const auto env_key_id = non_empty(env, "AWS_ACCESS_KEY_ID");
  const auto env_secret = non_empty(env, "AWS_SECRET_ACCESS_KEY");
  if (!explicit_profile && (env_key_id || env_secret)) {
    if (!env_key_id) return invalid("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (!env_secret) return invalid("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    settings.credentials.access_key_id = *env_key_id;
    settings.credentials.secret_access_key = *env_secret;
    settings.credentials.session_token = non_empty(env, "AWS_SESSION_TOKEN").value_or("");
    settings.source = "environment";
  } else {
    settings.credentials.access_key_id = profile_value("aws_access_key_id");
    settings.credentials.secret_access_key = profile_value("aws_secret_access_key");
    settings.credentials.session_token = profile_value("aws_session_token");
    const std::string where = "profile " + settings.profile + profile_origin;
    if (settings.credentials.access_key_id.empty()) {
      if (auto process = profile_value("credential_process"); !process.empty()) {
        settings.credential_process = process;
        settings.source =
            "credential_process of " + where + " in " + source_of("credential_process");
      }
    }
    if (settings.credentials.access_key_id.empty() && settings.credential_process.empty()) {
      return invalid(
          "no AWS credentials: " +
          std::string(explicit_profile
                          ? ""
                          : "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and ") +
          where + " has no aws_access_key_id in " + tried +
          "; set the variables or add the keys to the profile");
    }
    if (settings.credential_process.empty()) {
      if (settings.credentials.secret_access_key.empty()) {
        return invalid(where + " in " + source_of("aws_access_key_id") +
                       " has aws_access_key_id but no aws_secret_access_key");
      }
      settings.source = where + " in " + source_of("aws_access_key_id");
    }
  }

  // The first of the environment variables that is set, else the profile's key.
  auto first_of = [&](std::initializer_list<const char*> names, const char* key, std::string& value,
                      std::string& source) {
    for (const char* name : names) {
      if (auto v = non_empty(env, name)) {
        value = *v;
        source = name;
        return;
      }
    }
    value = profile_value(key);
    source = "profile " + settings.profile + profile_origin + " in " + source_of(key);
  };
  first_of({"AWS_REGION", "AWS_DEFAULT_REGION"}, "region", settings.region, settings.region_source);
  first_of({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, "endpoint_url", settings.endpoint_url,
           settings.endpoint_source);
  first_of({"AWS_CA_BUNDLE"}, "ca_bundle", settings.ca_bundle, settings.ca_bundle_source);
  return settings;
}

}  // namespace rehome::s3
