// Where temporary credentials come from, and one fetch from each: the sources of the AWS SDKs'
// default chain that hand out credentials which expire (resolve_aws_settings() picks one;
// RefreshingCredentials calls fetch_credentials() at start-up and before each expiry).
//
// Every fetch is blocking and runs on the refresh thread, never on the event loop. Each one is
// complete in itself (a web-identity token file is read again, the instance metadata token is
// asked for again), so a refresh sees what the platform rotated since the last one.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http/loop.h"
#include "s3/refreshing_credentials.h"
#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

/// Where STS is reached: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's endpoint_url,
/// else https://sts.REGION.amazonaws.com.
struct StsEndpoint {
  std::string url;     ///< scheme://host[:port], no trailing slash.
  std::string region;  ///< Signs AssumeRole (us-east-1 when none is configured).
  /// AWS's regional endpoint for lack of any setting: it follows the bucket's region when that
  /// is given on the command line (with_sts_region).
  bool regional_default = false;
};

struct CredentialSource {
  enum class Kind {
    kStatic,            ///< Keys as given (only as the source of an assumed role).
    kProcess,           ///< A profile's credential_process.
    kWebIdentity,       ///< STS AssumeRoleWithWebIdentity with a token file (IRSA).
    kAssumeRole,        ///< STS AssumeRole, signed with `source`'s credentials.
    kContainer,         ///< The ECS / EKS Pod Identity credentials endpoint.
    kInstanceMetadata,  ///< EC2 instance metadata, IMDSv2.
  };
  Kind kind = Kind::kStatic;
  /// For messages: which source, where it was configured. Never a secret.
  std::string description;

  Credentials credentials;  ///< kStatic.
  std::string command;      ///< kProcess.

  // kWebIdentity and kAssumeRole.
  std::string role_arn;
  std::string role_session_name;
  std::string token_file;  ///< kWebIdentity: read again on every fetch (the kubelet rotates it).
  std::string external_id;
  int duration_seconds = 0;  ///< 0: the role's default.
  StsEndpoint sts;
  std::shared_ptr<const CredentialSource> source;  ///< kAssumeRole: whose keys sign the call.

  // kContainer: the full URL, and the Authorization header's value, or the file it is read
  // from on every fetch (EKS Pod Identity rotates it).
  std::string url;
  std::string shown_url;  ///< The URL as messages show it (no relative URI, no userinfo).
  std::string authorization;
  std::string authorization_file;

  std::string metadata_endpoint;  ///< kInstanceMetadata: http://169.254.169.254 or the override.
  /// kInstanceMetadata as the last resort: what was tried before it, for the message when it
  /// does not answer either ("no credentials in the environment or profile default ...").
  std::string tried_before;
};

/// Short name of a kind, for the start-up line ("web identity (AssumeRoleWithWebIdentity)").
std::string kind_name(CredentialSource::Kind kind);

/// What makes two sources the same identity (the same role from the same source, the same
/// endpoint...), whatever the words of their descriptions: both buckets then share one fetch,
/// and copies stay server-side. Never holds a secret.
std::string identity(const CredentialSource& source);

/// How the fetches reach their endpoints: TLS settings (a private CA for STS on an S3-compatible
/// store), and the blocking HTTP call itself (replaced in unit tests).
struct FetchOptions {
  /// TLS towards the bucket's own endpoint host (a store serving STS itself): the bucket's
  /// CA bundle and verification. Any other host (AWS's STS, a container agent over HTTPS) is
  /// verified, against `other_ca_bundle` (AWS_CA_BUNDLE, the profile's ca_bundle) or the
  /// system's store: --no-verify-ssl never reaches the credential endpoints of AWS.
  std::string bucket_host;
  std::string ca_bundle;
  bool verify_tls = true;
  std::string other_ca_bundle;
  /// The first fetch (at start-up): a last-resort source's failure then names every source
  /// tried before it; a later refresh's names only itself.
  bool first_fetch = true;
  std::function<http::Response(http::Request)> perform;  ///< Empty: http::perform.
  /// Between attempts of one fetch (a fault a retry may cure is tried three times).
  std::chrono::milliseconds retry_pause{1000};
};

/// One fetch of fresh credentials from `source`. Fails with the endpoint, the status and the
/// service's own message (never a secret); kTransient when a retry may cure it.
Result<TimedCredentials> fetch_credentials(const CredentialSource& source,
                                           const FetchOptions& options);

/// AWS's regional STS endpoint for `region` (https://sts.REGION.amazonaws.com, .com.cn in
/// China's partition).
std::string aws_sts_url(const std::string& region);

/// `source` with every STS endpoint that was AWS's regional default moved to `region` (the
/// bucket's, given by --region after the profile was read); the same source when none was.
std::shared_ptr<const CredentialSource> with_sts_region(
    const std::shared_ptr<const CredentialSource>& source, const std::string& region);

/// True for a container credentials URL the SDKs accept: HTTPS anywhere, or HTTP to loopback,
/// 169.254.170.2, 169.254.170.23 or [fd00:ec2::23] (the ECS and EKS agents' addresses).
bool container_url_allowed(const std::string& url);

// The documents, exposed for tests.
Result<TimedCredentials> parse_sts_credentials(std::string_view xml);
Result<TimedCredentials> parse_json_credentials(std::string_view json, std::string_view what);

}  // namespace rehome::s3
