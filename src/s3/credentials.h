// Finds credentials, region and endpoint the way AWS tools do: AWS_* environment variables
// first, then the named profile in ~/.aws/credentials and ~/.aws/config.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "s3/credential_sources.h"
#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

/// Reads one environment variable; injectable so resolution is testable without setenv.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
/// The process environment.
EnvLookup process_environment();

struct AwsSettings {
  Credentials credentials;
  std::string region;           ///< Empty when neither env nor profile names one.
  std::string endpoint_url;     ///< AWS_ENDPOINT_URL or the profile's endpoint_url; may be empty.
  std::string region_source;    ///< "AWS_REGION", "profile dev in /root/.aws/config"...
  std::string endpoint_source;  ///< "AWS_ENDPOINT_URL", "profile dev in ..."...
  std::string ca_bundle;        ///< AWS_CA_BUNDLE or the profile's ca_bundle; may be empty.
  std::string ca_bundle_source;
  std::string profile;  ///< The profile used ("default" unless chosen).
  std::string source;   ///< Where the credentials came from, for messages ("environment", "profile
                        ///< dev in /root/.aws/credentials").
  /// Where temporary credentials are fetched from (then `credentials` is empty: they are
  /// fetched at start-up, and refreshed, by RefreshingCredentials); null for static keys.
  std::shared_ptr<const CredentialSource> fetched;
};

/// The AWS SDKs' default credential chain. A `profile` given explicitly is the only place
/// looked at. Otherwise, the first that applies: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
/// (+AWS_SESSION_TOKEN); AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN; the profile (AWS_PROFILE,
/// else "default": static keys, credential_process, role_arn with source_profile,
/// credential_source or web_identity_token_file); AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
/// _FULL_URI; the EC2 instance metadata (unless AWS_EC2_METADATA_DISABLED=true), whose failure
/// at start-up then names everything tried. Files: AWS_SHARED_CREDENTIALS_FILE (default
/// $HOME/.aws/credentials) and AWS_CONFIG_FILE (default $HOME/.aws/config, sections
/// "[profile NAME]" and "[default]"). Region: AWS_REGION, AWS_DEFAULT_REGION, then the profile.
/// Fails with kInvalidInput naming what is missing and how to provide it (never a secret).
Result<AwsSettings> resolve_aws_settings(const EnvLookup& env, std::string_view profile = {});

}  // namespace rehome::s3
