// AWS settings as the AWS CLI finds them (minus SSO, which reaches rehome through a
// credential_process), and which credential source of the default chain applies. Nothing here
// makes a request: the sources are fetched by RefreshingCredentials; the files are read by
// aws_config_files.h.
#include "s3/credentials.h"

#include "s3/addressing.h"
#include "s3/aws_config_files.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <initializer_list>

#include <fmt/format.h>

#include "util/text.h"

namespace rehome::s3 {

namespace {

Error invalid(std::string message) {
  Error error;
  error.kind = ErrorKind::kInvalidInput;
  error.message = std::move(message);
  return error;
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

namespace {

// Both settings files and the profile chosen, with botocore's precedence: the credentials file
// wins over the config file for the same key.
struct Profiles {
  const SettingsFile& credentials_file;
  const SettingsFile& config_file;

  const Section* in_credentials(const std::string& name) const {
    return find_section(credentials_file, name);
  }
  const Section* in_config(const std::string& name) const {
    const Section* found = find_section(config_file, "profile " + name);
    if (found == nullptr && name == "default") found = find_section(config_file, "default");
    return found;
  }
  bool exists(const std::string& name) const {
    return in_credentials(name) != nullptr || in_config(name) != nullptr;
  }
  std::string value(const std::string& name, const char* key) const {
    auto v = value_of(in_credentials(name), key);
    return v.empty() ? value_of(in_config(name), key) : v;
  }
  const std::string& file_of(const std::string& name, const char* key) const {
    return value_of(in_credentials(name), key).empty() ? config_file.path : credentials_file.path;
  }
  std::string tried() const { return describe(credentials_file) + " and " + describe(config_file); }
};

std::string default_session_name() {
  return fmt::format("rehome-{}", std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
}

// STS: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's endpoint_url (an S3-compatible
// store serves STS on its own endpoint), else AWS's regional endpoint.
StsEndpoint sts_endpoint(const EnvLookup& env, const Profiles& profiles, const std::string& profile,
                         const std::string& region) {
  StsEndpoint sts;
  sts.region = region.empty() ? "us-east-1" : region;
  if (auto url = non_empty(env, "AWS_ENDPOINT_URL_STS")) {
    sts.url = *url;
  } else if (auto any = non_empty(env, "AWS_ENDPOINT_URL")) {
    sts.url = *any;
  } else if (auto own = profiles.value(profile, "endpoint_url"); !own.empty()) {
    sts.url = own;
  } else {
    sts.url = aws_sts_url(sts.region);
    sts.regional_default = true;
  }
  while (!sts.url.empty() && sts.url.back() == '/') sts.url.pop_back();
  // The global endpoint signs as us-east-1 whatever the configured region (as botocore).
  if (sts.url == "https://sts.amazonaws.com") sts.region = "us-east-1";
  return sts;
}

// An STS URL that cannot be requested fails at start-up, naming where it came from.
Status check_sts_url(const EnvLookup& env, const StsEndpoint& sts) {
  Endpoint endpoint;
  endpoint.url = sts.url;
  endpoint.region = sts.region;
  if (validate_endpoint(endpoint)) return Ok{};
  const char* from = non_empty(env, "AWS_ENDPOINT_URL_STS") ? "AWS_ENDPOINT_URL_STS"
                     : non_empty(env, "AWS_ENDPOINT_URL")   ? "AWS_ENDPOINT_URL"
                                                            : "the profile's endpoint_url";
  return invalid(
      fmt::format("the STS endpoint \"{}\" (from {}) is not a URL rehome can request: "
                  "give scheme://host[:port], e.g. https://sts.eu-west-1.amazonaws.com",
                  sts.url, from));
}

using SourcePtr = std::shared_ptr<CredentialSource>;

// "http://user:pass@host/x" shown as "http://host/x".
std::string without_userinfo(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const auto authority_end = url.find_first_of("/?#", scheme_end + 3);
  const auto at = url.rfind('@', authority_end);
  if (at == std::string::npos || at < scheme_end) return url;
  return url.substr(0, scheme_end + 3) + url.substr(at + 1);
}

SourcePtr static_source(Credentials credentials, std::string description) {
  auto source = std::make_shared<CredentialSource>();
  source->kind = CredentialSource::Kind::kStatic;
  source->credentials = std::move(credentials);
  source->description = std::move(description);
  return source;
}

// The environment's static keys, if set (both or neither).
Result<SourcePtr> environment_keys(const EnvLookup& env) {
  const auto key_id = non_empty(env, "AWS_ACCESS_KEY_ID");
  const auto secret = non_empty(env, "AWS_SECRET_ACCESS_KEY");
  if (!key_id && !secret) return SourcePtr{};
  if (!key_id) return invalid("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  if (!secret) return invalid("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  Credentials c;
  c.access_key_id = *key_id;
  c.secret_access_key = *secret;
  c.session_token = non_empty(env, "AWS_SESSION_TOKEN").value_or("");
  return static_source(std::move(c), "environment");
}

// The container endpoint named by the environment (ECS, EKS Pod Identity), if any.
Result<SourcePtr> container_source(const EnvLookup& env) {
  auto source = std::make_shared<CredentialSource>();
  source->kind = CredentialSource::Kind::kContainer;
  if (auto relative = non_empty(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    source->url = "http://169.254.170.2" + *relative;
    // The relative URI names the task's credentials to anyone on the host who knows it: it is
    // never shown.
    source->shown_url = "http://169.254.170.2/...";
    source->description =
        "container credentials endpoint http://169.254.170.2 "
        "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)";
  } else if (auto full = non_empty(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    if (!container_url_allowed(*full)) {
      return invalid("AWS_CONTAINER_CREDENTIALS_FULL_URI \"" + *full +
                     "\" is neither HTTPS nor a loopback or container agent address "
                     "(169.254.170.2, 169.254.170.23, fd00:ec2::23): the AWS SDKs refuse it too");
    }
    source->url = *full;
    source->shown_url = without_userinfo(*full);
    source->description = "container credentials endpoint " + source->shown_url +
                          " (AWS_CONTAINER_CREDENTIALS_FULL_URI)";
  } else {
    return SourcePtr{};
  }
  if (auto file = non_empty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    source->authorization_file = *file;
  } else if (auto token = non_empty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
    source->authorization = *token;
  }
  return source;
}

SourcePtr instance_metadata_source(const EnvLookup& env) {
  auto source = std::make_shared<CredentialSource>();
  source->kind = CredentialSource::Kind::kInstanceMetadata;
  source->metadata_endpoint =
      non_empty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
  while (!source->metadata_endpoint.empty() && source->metadata_endpoint.back() == '/')
    source->metadata_endpoint.pop_back();
  source->description = "EC2 instance metadata at " + source->metadata_endpoint;
  return source;
}

bool metadata_disabled(const EnvLookup& env) {
  auto value = non_empty(env, "AWS_EC2_METADATA_DISABLED");
  if (!value) return false;
  std::string v = ascii_lower(*value);
  return v == "true" || v == "1";
}

struct ProfileResolver {
  const EnvLookup& env;
  const Profiles& profiles;
  const std::string& region;

  // The credentials profile `name` gives, botocore's way: a role_arn first (assumed with its
  // source_profile's, credential_source's or web identity token's help), else static keys,
  // else credential_process. Null when the profile gives none. `visited` stops a cycle of
  // source_profile references.
  Result<SourcePtr> resolve(const std::string& name, const std::string& shown,
                            std::vector<std::string> visited) const {
    const std::string where = "profile " + shown;
    if (auto role_arn = profiles.value(name, "role_arn"); !role_arn.empty()) {
      return assumed_role(name, where, role_arn, std::move(visited));
    }
    return own_keys(name, where);
  }

  Result<SourcePtr> own_keys(const std::string& name, const std::string& where) const {
    Credentials c;
    c.access_key_id = profiles.value(name, "aws_access_key_id");
    c.secret_access_key = profiles.value(name, "aws_secret_access_key");
    c.session_token = profiles.value(name, "aws_session_token");
    if (!c.access_key_id.empty()) {
      const std::string& file = profiles.file_of(name, "aws_access_key_id");
      if (c.secret_access_key.empty()) {
        return invalid(where + " in " + file +
                       " has aws_access_key_id but no aws_secret_access_key");
      }
      return static_source(std::move(c), where + " in " + file);
    }
    if (auto process = profiles.value(name, "credential_process"); !process.empty()) {
      auto source = std::make_shared<CredentialSource>();
      source->kind = CredentialSource::Kind::kProcess;
      source->command = process;
      source->description =
          "credential_process of " + where + " in " + profiles.file_of(name, "credential_process");
      return source;
    }
    return SourcePtr{};
  }

  Result<SourcePtr> assumed_role(const std::string& name, const std::string& where,
                                 const std::string& role_arn,
                                 std::vector<std::string> visited) const {
    const std::string& file = profiles.file_of(name, "role_arn");
    auto source = std::make_shared<CredentialSource>();
    source->role_arn = role_arn;
    source->role_session_name = profiles.value(name, "role_session_name");
    if (source->role_session_name.empty()) source->role_session_name = default_session_name();
    source->sts = sts_endpoint(env, profiles, name, region);
    if (auto duration = profiles.value(name, "duration_seconds"); !duration.empty()) {
      try {
        source->duration_seconds = std::stoi(duration);
      } catch (const std::exception&) {
        return invalid(where + " in " + file + ": duration_seconds \"" + duration +
                       "\" is not a number of seconds");
      }
    }
    if (auto token_file = profiles.value(name, "web_identity_token_file"); !token_file.empty()) {
      source->kind = CredentialSource::Kind::kWebIdentity;
      source->token_file = token_file;
      source->description = "role " + role_arn + " with the web identity token " + token_file +
                            " (" + where + " in " + file + ")";
      return source;
    }
    source->kind = CredentialSource::Kind::kAssumeRole;
    source->external_id = profiles.value(name, "external_id");
    visited.push_back(name);
    if (auto source_profile = profiles.value(name, "source_profile"); !source_profile.empty()) {
      if (!profiles.exists(source_profile)) {
        return invalid(where + " in " + file + " names source_profile " + source_profile +
                       ", which is not in " + profiles.tried());
      }
      Result<SourcePtr> signer{SourcePtr{}};
      if (source_profile == name || !profiles.value(source_profile, "aws_access_key_id").empty()) {
        // A source profile's own static keys win over its role_arn (botocore's rule), and a
        // profile may be its own source: its static keys.
        signer = own_keys(source_profile, "profile " + source_profile);
      } else if (std::find(visited.begin(), visited.end(), source_profile) != visited.end()) {
        return invalid(where + " in " + file + ": source_profile " + source_profile +
                       " leads back to itself; end the chain with a profile that has keys");
      } else {
        signer = resolve(source_profile, source_profile, visited);
      }
      if (!signer) return signer.error();
      if (!signer.value()) {
        return invalid("profile " + source_profile + " (the source_profile of " + where +
                       ") has no credentials in " + profiles.tried());
      }
      source->source = signer.value();
    } else if (auto from = profiles.value(name, "credential_source"); !from.empty()) {
      Result<SourcePtr> signer{SourcePtr{}};
      if (from == "Environment") {
        signer = environment_keys(env);
      } else if (from == "EcsContainer") {
        signer = container_source(env);
      } else if (from == "Ec2InstanceMetadata") {
        signer = instance_metadata_source(env);
      } else {
        return invalid(where + " in " + file + ": credential_source \"" + from +
                       "\" is not Environment, Ec2InstanceMetadata or EcsContainer");
      }
      if (!signer) return signer.error();
      if (!signer.value()) {
        return invalid(where + " in " + file + ": credential_source " + from +
                       " gives no credentials (its variables are not set)");
      }
      source->source = signer.value();
    } else {
      return invalid(where + " in " + file +
                     " has role_arn but no source_profile, "
                     "credential_source or web_identity_token_file to assume it with");
    }
    source->description = "role " + role_arn + " assumed with " + source->source->description +
                          " (" + where + " in " + file + ")";
    return source;
  }
};

}  // namespace

Result<AwsSettings> resolve_aws_settings(const EnvLookup& env, std::string_view profile) {
  AwsSettings settings;
  const bool explicit_profile = !profile.empty();
  const auto env_profile = non_empty(env, "AWS_PROFILE");
  settings.profile = explicit_profile ? std::string(profile) : env_profile.value_or("default");
  const bool named_profile = explicit_profile || env_profile.has_value();
  const std::string shown = settings.profile + (explicit_profile ? ""
                                                : env_profile    ? " (from AWS_PROFILE)"
                                                                 : "");

  auto credentials_file = load_settings_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
  if (!credentials_file) return credentials_file.error();
  auto config_file = load_settings_file(env, "AWS_CONFIG_FILE", "config");
  if (!config_file) return config_file.error();
  const Profiles profiles{credentials_file.value(), config_file.value()};
  if (named_profile && !profiles.exists(settings.profile)) {
    return invalid("profile " + shown + " not found in " + profiles.tried());
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
    value = profiles.value(settings.profile, key);
    source = "profile " + shown + " in " + profiles.file_of(settings.profile, key);
  };
  first_of({"AWS_REGION", "AWS_DEFAULT_REGION"}, "region", settings.region, settings.region_source);
  first_of({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, "endpoint_url", settings.endpoint_url,
           settings.endpoint_source);
  first_of({"AWS_CA_BUNDLE"}, "ca_bundle", settings.ca_bundle, settings.ca_bundle_source);

  // The credential chain, in the AWS SDKs' order: a profile named on the command line is the
  // only place looked at; otherwise the environment's keys, a web identity from the
  // environment, the profile, the container endpoint, the instance metadata.
  const ProfileResolver resolver{env, profiles, settings.region};
  SourcePtr chosen;
  if (!explicit_profile) {
    auto keys = environment_keys(env);
    if (!keys) return keys.error();
    chosen = keys.value();
  }
  if (!chosen && !explicit_profile) {
    const auto token_file = non_empty(env, "AWS_WEB_IDENTITY_TOKEN_FILE");
    const auto role_arn = non_empty(env, "AWS_ROLE_ARN");
    if (token_file && !role_arn)
      return invalid(
          "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the role "
          "to assume (IRSA sets both)");
    if (token_file) {
      auto source = std::make_shared<CredentialSource>();
      source->kind = CredentialSource::Kind::kWebIdentity;
      source->role_arn = *role_arn;
      source->token_file = *token_file;
      source->role_session_name =
          non_empty(env, "AWS_ROLE_SESSION_NAME").value_or(default_session_name());
      source->sts = sts_endpoint(env, profiles, settings.profile, settings.region);
      source->description = "role " + *role_arn + " with the web identity token " + *token_file +
                            " (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)";
      chosen = source;
    }
  }
  if (!chosen && profiles.exists(settings.profile)) {
    auto from_profile = resolver.resolve(settings.profile, shown, {});
    if (!from_profile) return from_profile.error();
    chosen = from_profile.value();
  }
  // A profile without credentials (one that only names a region, an endpoint or a CA) leaves
  // them to the platform, as in the SDKs: the container endpoint, the instance metadata.
  if (!chosen) {
    auto container = container_source(env);
    if (!container) return container.error();
    chosen = container.value();
  }
  const std::string nothing_found =
      explicit_profile
          ? "profile " + shown + " has no aws_access_key_id, credential_process or role_arn in " +
                profiles.tried()
          : "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, AWS_WEB_IDENTITY_TOKEN_FILE "
            "is not set, and profile " +
                shown + " has no aws_access_key_id in " + profiles.tried();
  if (!chosen && !metadata_disabled(env)) {
    chosen = instance_metadata_source(env);
    chosen->tried_before = nothing_found + ", no container credentials endpoint is set";
  }
  if (!chosen) {
    return invalid("no AWS credentials: " + nothing_found +
                   (explicit_profile ? "; add the keys to the profile"
                                     : "; set the variables or add the keys to the profile"));
  }

  for (const CredentialSource* s = chosen.get(); s != nullptr; s = s->source.get()) {
    if (s->kind == CredentialSource::Kind::kWebIdentity ||
        s->kind == CredentialSource::Kind::kAssumeRole) {
      if (auto st = check_sts_url(env, s->sts); !st) return st.error();
    }
  }
  settings.source = chosen->description;
  if (chosen->kind == CredentialSource::Kind::kStatic) {
    settings.credentials = chosen->credentials;
  } else {
    settings.fetched = chosen;
  }
  return settings;
}

}  // namespace rehome::s3
