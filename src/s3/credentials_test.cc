#include "s3/credentials.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace rehome::s3 {
namespace {

namespace fs = std::filesystem;

// A throw-away HOME with ~/.aws, and an environment that sees only what a test sets.
class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/rehome-credentials-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    home_ = pattern;
    fs::create_directories(home_ / ".aws");
    env_["HOME"] = home_.string();
  }
  void TearDown() override { fs::remove_all(home_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(home_ / ".aws" / name) << text;
  }
  EnvLookup env() const {
    return [vars = env_](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }
  std::string aws(const std::string& name) const { return (home_ / ".aws" / name).string(); }

  fs::path home_;
  std::map<std::string, std::string> env_;
};

const char* kCredentials = R"(# rehome test credentials
[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = DEFAULTSECRET

; a second profile
[dev]
AWS_Access_Key_Id=DEVKEY
aws_secret_access_key   =   DEV/SECRET+with=equals
aws_session_token = DEVTOKEN
)";

const char* kConfig = R"([default]
region = eu-west-1

[profile dev]
region = us-west-2
endpoint_url = http://127.0.0.1:7480
s3 =
  endpoint_url = http://nested.example:1
  addressing_style = path

[profile   spaced]
aws_access_key_id = SPACEDKEY
aws_secret_access_key = SPACEDSECRET
)";

TEST_F(CredentialsTest, EnvironmentCredentialsWinOverTheDefaultProfile) {
  write("credentials", kCredentials);
  write("config", kConfig);
  env_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env_["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  env_["AWS_SESSION_TOKEN"] = "ENVTOKEN";
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(settings->credentials.secret_access_key, "ENVSECRET");
  EXPECT_EQ(settings->credentials.session_token, "ENVTOKEN");
  EXPECT_EQ(settings->source, "environment");
  EXPECT_EQ(settings->profile, "default");
  EXPECT_EQ(settings->region, "eu-west-1");  // Still from the profile.
}

TEST_F(CredentialsTest, EnvironmentCredentialsWinOverAwsProfile) {
  write("credentials", kCredentials);
  env_["AWS_PROFILE"] = "dev";
  env_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env_["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "ENVKEY");
  EXPECT_EQ(settings->credentials.session_token, "");
  EXPECT_EQ(settings->profile, "dev");
}

TEST_F(CredentialsTest, ExplicitProfileWinsOverEnvironmentCredentials) {
  write("credentials", kCredentials);
  write("config", kConfig);
  env_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env_["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  env_["AWS_PROFILE"] = "default";
  auto settings = resolve_aws_settings(env(), "dev");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "DEVKEY");
  EXPECT_EQ(settings->credentials.secret_access_key, "DEV/SECRET+with=equals");
  EXPECT_EQ(settings->credentials.session_token, "DEVTOKEN");
  EXPECT_EQ(settings->profile, "dev");
  EXPECT_EQ(settings->source, "profile dev in " + aws("credentials"));
  EXPECT_EQ(settings->region, "us-west-2");
  EXPECT_EQ(settings->endpoint_url, "http://127.0.0.1:7480");  // Not the nested s3 one.
}

TEST_F(CredentialsTest, DefaultProfileFromTheCredentialsFile) {
  write("credentials", kCredentials);
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "DEFAULTKEY");
  EXPECT_EQ(settings->credentials.secret_access_key, "DEFAULTSECRET");
  EXPECT_EQ(settings->profile, "default");
  EXPECT_EQ(settings->region, "");
  EXPECT_EQ(settings->endpoint_url, "");
}

TEST_F(CredentialsTest, AwsProfileChoosesTheProfile) {
  write("credentials", kCredentials);
  env_["AWS_PROFILE"] = "dev";
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "DEVKEY");
  EXPECT_EQ(settings->profile, "dev");
}

TEST_F(CredentialsTest, CredentialsMayLiveInTheConfigFile) {
  write("config", kConfig);
  auto settings = resolve_aws_settings(env(), "spaced");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "SPACEDKEY");
  EXPECT_EQ(settings->source, "profile spaced in " + aws("config"));
}

TEST_F(CredentialsTest, RegionAndEndpointVariablesWinOverTheProfile) {
  write("credentials", kCredentials);
  write("config", kConfig);
  env_["AWS_DEFAULT_REGION"] = "ap-south-1";
  env_["AWS_ENDPOINT_URL"] = "http://general:1";
  auto settings = resolve_aws_settings(env(), "dev");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->region, "ap-south-1");
  EXPECT_EQ(settings->endpoint_url, "http://general:1");

  env_["AWS_REGION"] = "sa-east-1";
  env_["AWS_ENDPOINT_URL_S3"] = "http://s3-only:2";
  settings = resolve_aws_settings(env(), "dev");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->region, "sa-east-1");
  EXPECT_EQ(settings->endpoint_url, "http://s3-only:2");
}

TEST_F(CredentialsTest, FileLocationsFollowTheVariables) {
  std::ofstream(home_ / "creds.ini") << "[default]\naws_access_key_id=K\naws_secret_access_key=S\n";
  std::ofstream(home_ / "conf.ini") << "[default]\nregion=r-1\n";
  env_["AWS_SHARED_CREDENTIALS_FILE"] = (home_ / "creds.ini").string();
  env_["AWS_CONFIG_FILE"] = (home_ / "conf.ini").string();
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "K");
  EXPECT_EQ(settings->region, "r-1");
}

TEST_F(CredentialsTest, NothingFoundNamesTheProfileAndTheFilesTried) {
  env_["AWS_EC2_METADATA_DISABLED"] = "true";
  auto settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_EQ(settings.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(settings.error().message,
            "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, "
            "AWS_WEB_IDENTITY_TOKEN_FILE is not set, and profile default has no aws_access_key_id "
            "in " +
                aws("credentials") + " (not found) and " + aws("config") +
                " (not found); set the variables or add the keys to the profile");
}

TEST_F(CredentialsTest, UnknownProfileIsNamed) {
  write("credentials", kCredentials);
  env_["AWS_PROFILE"] = "prod";
  auto settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_EQ(settings.error().message, "profile prod (from AWS_PROFILE) not found in " +
                                          aws("credentials") + " and " + aws("config") +
                                          " (not found)");
  settings = resolve_aws_settings(env(), "staging");
  ASSERT_FALSE(settings);
  EXPECT_TRUE(settings.error().message.starts_with("profile staging not found in "));
}

TEST_F(CredentialsTest, HalfSetCredentialsAreAnErrorThatNeverShowsTheSecret) {
  env_["AWS_SECRET_ACCESS_KEY"] = "HALFSECRET";
  auto settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_EQ(settings.error().message, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");

  write("credentials", "[default]\naws_access_key_id = ONLYKEY\n");
  env_.erase("AWS_SECRET_ACCESS_KEY");
  settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_EQ(settings.error().message, "profile default in " + aws("credentials") +
                                          " has aws_access_key_id but no aws_secret_access_key");
}

TEST_F(CredentialsTest, NoHomeAndNoVariablesIsAClearError) {
  env_.erase("HOME");
  env_["AWS_EC2_METADATA_DISABLED"] = "TRUE";
  auto settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("(no HOME, no file)"), std::string::npos);
}

// The rest of the chain: sources whose credentials are fetched (and refreshed) at run time.
using Kind = CredentialSource::Kind;

TEST_F(CredentialsTest, with_nothing_else_the_instance_metadata_is_the_last_resort) {
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_TRUE(settings->fetched);
  EXPECT_EQ(settings->fetched->kind, Kind::kInstanceMetadata);
  EXPECT_EQ(settings->fetched->metadata_endpoint, "http://169.254.169.254");
  // What was tried before it goes into the message should it not answer either.
  EXPECT_NE(settings->fetched->tried_before.find("profile default has no aws_access_key_id in " +
                                                 aws("credentials") + " (not found)"),
            std::string::npos);
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:9999/";
  settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->fetched->metadata_endpoint, "http://127.0.0.1:9999");
  EXPECT_EQ(settings->source, "EC2 instance metadata at http://127.0.0.1:9999");
}

TEST_F(CredentialsTest, a_web_identity_from_the_environment_comes_after_the_keys) {
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/var/run/secrets/token";
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/rehome";
  env_["AWS_REGION"] = "eu-central-1";
  write("credentials", kCredentials);  // the default profile has keys: the web identity wins
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_TRUE(settings->fetched);
  const CredentialSource& source = *settings->fetched;
  EXPECT_EQ(source.kind, Kind::kWebIdentity);
  EXPECT_EQ(source.token_file, "/var/run/secrets/token");
  EXPECT_EQ(source.role_arn, "arn:aws:iam::123456789012:role/rehome");
  EXPECT_TRUE(source.role_session_name.starts_with("rehome-")) << source.role_session_name;
  EXPECT_EQ(source.sts.url, "https://sts.eu-central-1.amazonaws.com");
  EXPECT_EQ(source.sts.region, "eu-central-1");
  EXPECT_EQ(settings->source,
            "role arn:aws:iam::123456789012:role/rehome with the web identity token "
            "/var/run/secrets/token (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)");

  env_["AWS_ROLE_SESSION_NAME"] = "night-run";
  env_["AWS_ENDPOINT_URL"] = "https://s3.example:8443";
  settings = resolve_aws_settings(env());
  EXPECT_EQ(settings->fetched->role_session_name, "night-run");
  EXPECT_EQ(settings->fetched->sts.url, "https://s3.example:8443");
  env_["AWS_ENDPOINT_URL_STS"] = "https://sts.example/";
  settings = resolve_aws_settings(env());
  EXPECT_EQ(settings->fetched->sts.url, "https://sts.example");

  env_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env_["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  settings = resolve_aws_settings(env());
  EXPECT_FALSE(settings->fetched);
  EXPECT_EQ(settings->credentials.access_key_id, "ENVKEY");

  env_.erase("AWS_ACCESS_KEY_ID");
  env_.erase("AWS_SECRET_ACCESS_KEY");
  env_.erase("AWS_ROLE_ARN");
  settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_EQ(settings.error().message,
            "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the role to assume "
            "(IRSA sets both)");
}

TEST_F(CredentialsTest, a_profile_role_is_assumed_with_its_source_profile) {
  write("credentials", kCredentials);
  write("config", R"([profile admin]
role_arn = arn:aws:iam::123456789012:role/mover
source_profile = dev
external_id = ext-1
role_session_name = sre
duration_seconds = 7200
region = us-west-1

[profile chained]
role_arn = arn:aws:iam::123456789012:role/second
source_profile = admin

[profile loop-a]
role_arn = arn:aws:iam::1:role/a
source_profile = loop-b

[profile loop-b]
role_arn = arn:aws:iam::1:role/b
source_profile = loop-a

[profile orphan]
role_arn = arn:aws:iam::1:role/o
source_profile = nowhere

[profile pod]
role_arn = arn:aws:iam::1:role/pod
web_identity_token_file = /tokens/pod

[profile from-env]
role_arn = arn:aws:iam::1:role/env
credential_source = Environment

[profile bare]
role_arn = arn:aws:iam::1:role/bare
)");
  auto settings = resolve_aws_settings(env(), "admin");
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_TRUE(settings->fetched);
  const CredentialSource& role = *settings->fetched;
  EXPECT_EQ(role.kind, Kind::kAssumeRole);
  EXPECT_EQ(role.role_arn, "arn:aws:iam::123456789012:role/mover");
  EXPECT_EQ(role.external_id, "ext-1");
  EXPECT_EQ(role.role_session_name, "sre");
  EXPECT_EQ(role.duration_seconds, 7200);
  EXPECT_EQ(role.sts.url, "https://sts.us-west-1.amazonaws.com");
  ASSERT_TRUE(role.source);
  EXPECT_EQ(role.source->kind, Kind::kStatic);
  EXPECT_EQ(role.source->credentials.access_key_id, "DEVKEY");
  EXPECT_EQ(settings->source,
            "role arn:aws:iam::123456789012:role/mover assumed with profile dev "
            "in " +
                aws("credentials") + " (profile admin in " + aws("config") + ")");
  EXPECT_EQ(settings->source.find("SECRET"), std::string::npos);

  settings = resolve_aws_settings(env(), "chained");
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_TRUE(settings->fetched->source);
  EXPECT_EQ(settings->fetched->source->kind, Kind::kAssumeRole);
  EXPECT_EQ(settings->fetched->source->source->credentials.access_key_id, "DEVKEY");

  settings = resolve_aws_settings(env(), "loop-a");
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("leads back to itself"), std::string::npos);
  settings = resolve_aws_settings(env(), "orphan");
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("names source_profile nowhere, which is not in"),
            std::string::npos)
      << settings.error().message;
  settings = resolve_aws_settings(env(), "bare");
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("has role_arn but no source_profile, credential_source "
                                          "or web_identity_token_file"),
            std::string::npos);

  settings = resolve_aws_settings(env(), "pod");
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->fetched->kind, Kind::kWebIdentity);
  EXPECT_EQ(settings->fetched->token_file, "/tokens/pod");

  settings = resolve_aws_settings(env(), "from-env");
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("credential_source Environment gives no credentials"),
            std::string::npos);
  env_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env_["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  settings = resolve_aws_settings(env(), "from-env");
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->fetched->source->credentials.access_key_id, "ENVKEY");
}

TEST_F(CredentialsTest, a_source_profiles_own_keys_win_over_its_role) {
  // botocore's rule: "base" has keys and a role of its own; assuming "target" signs with base's
  // keys, never with base's role.
  write("config", R"([profile base]
aws_access_key_id = BASEKEY
aws_secret_access_key = BASESECRET
role_arn = arn:aws:iam::1:role/base
source_profile = base

[profile target]
role_arn = arn:aws:iam::1:role/target
source_profile = base
)");
  auto settings = resolve_aws_settings(env(), "target");
  ASSERT_TRUE(settings) << settings.error().message;
  ASSERT_TRUE(settings->fetched->source);
  EXPECT_EQ(settings->fetched->source->kind, Kind::kStatic);
  EXPECT_EQ(settings->fetched->source->credentials.access_key_id, "BASEKEY");
}

TEST_F(CredentialsTest, an_sts_endpoint_that_is_not_a_url_is_refused_naming_its_origin) {
  write("config",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = k\n"
        "[profile k]\naws_access_key_id = K\naws_secret_access_key = S\n");
  env_["AWS_ENDPOINT_URL_STS"] = "sts.example.com";
  auto settings = resolve_aws_settings(env(), "r");
  ASSERT_FALSE(settings);
  EXPECT_EQ(settings.error().kind, ErrorKind::kInvalidInput);
  EXPECT_NE(settings.error().message.find(
                "the STS endpoint \"sts.example.com\" (from AWS_ENDPOINT_URL_STS) is not a URL"),
            std::string::npos)
      << settings.error().message;
}

TEST_F(CredentialsTest, the_default_sts_endpoint_follows_the_buckets_region) {
  write("config",
        "[profile r]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = k\n"
        "[profile k]\naws_access_key_id = K\naws_secret_access_key = S\n");
  auto settings = resolve_aws_settings(env(), "r");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->fetched->sts.url, "https://sts.us-east-1.amazonaws.com");
  auto moved = with_sts_region(settings->fetched, "cn-north-1");  // given by --region
  EXPECT_EQ(moved->sts.url, "https://sts.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(moved->sts.region, "cn-north-1");
  // One named explicitly stays; the global endpoint signs as us-east-1.
  env_["AWS_ENDPOINT_URL_STS"] = "https://sts.amazonaws.com";
  env_["AWS_REGION"] = "eu-west-1";
  settings = resolve_aws_settings(env(), "r");
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->fetched->sts.region, "us-east-1");
  EXPECT_EQ(with_sts_region(settings->fetched, "eu-west-1"), settings->fetched);
}

TEST_F(CredentialsTest, the_container_endpoint_comes_before_the_instance_metadata) {
  env_["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/abc";
  auto settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->fetched->kind, Kind::kContainer);
  EXPECT_EQ(settings->fetched->url, "http://169.254.170.2/v2/credentials/abc");
  // The relative URI names the task's credentials: never shown.
  EXPECT_EQ(settings->source.find("abc"), std::string::npos) << settings->source;

  env_.erase("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://169.254.170.23/v1/credentials";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/var/run/secrets/pods.eks.amazonaws.com/token";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ignored-when-the-file-is-set";
  settings = resolve_aws_settings(env());
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->fetched->url, "http://169.254.170.23/v1/credentials");
  EXPECT_EQ(settings->fetched->authorization_file, "/var/run/secrets/pods.eks.amazonaws.com/token");
  EXPECT_EQ(settings->fetched->authorization, "");

  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://203.0.113.9/creds";
  settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("is neither HTTPS nor a loopback"), std::string::npos);

  // A profile named on the command line that has no credentials (only a region, an endpoint)
  // leaves them to the platform, as in the SDKs; the environment's keys are not looked at.
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:8080/creds";
  env_["AWS_ACCESS_KEY_ID"] = "ENVKEY";
  env_["AWS_SECRET_ACCESS_KEY"] = "ENVSECRET";
  write("config", "[profile empty]\nregion = eu-west-1\n");
  settings = resolve_aws_settings(env(), "empty");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->fetched->kind, Kind::kContainer);
  env_.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  env_["AWS_EC2_METADATA_DISABLED"] = "true";
  settings = resolve_aws_settings(env(), "empty");
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("no AWS credentials: profile empty has no "
                                          "aws_access_key_id, credential_process or role_arn"),
            std::string::npos)
      << settings.error().message;
}

TEST(ContainerUrl, only_https_or_the_agents_addresses) {
  EXPECT_TRUE(container_url_allowed("https://creds.example/x"));
  EXPECT_TRUE(container_url_allowed("http://127.0.0.1:51679/creds"));
  EXPECT_TRUE(container_url_allowed("http://localhost/creds"));
  EXPECT_TRUE(container_url_allowed("http://[::1]:80/creds"));
  EXPECT_TRUE(container_url_allowed("http://169.254.170.2/v2/credentials/a"));
  EXPECT_TRUE(container_url_allowed("http://[fd00:ec2::23]/v1/credentials"));
  EXPECT_FALSE(container_url_allowed("http://169.254.169.254/latest"));
  // Names that merely start like an allowed address, and userinfo tricks.
  EXPECT_FALSE(container_url_allowed("http://127.0.0.1.attacker.example/creds"));
  EXPECT_FALSE(container_url_allowed("http://127.evil.example/creds"));
  EXPECT_FALSE(container_url_allowed("http://169.254.170.2.evil.example/creds"));
  EXPECT_FALSE(container_url_allowed("http://169.254.170.2@evil.example/creds"));
  EXPECT_FALSE(container_url_allowed("http://[::1].evil/creds"));
  EXPECT_FALSE(container_url_allowed("http://[fe80::1%25eth0]/creds"));
  EXPECT_TRUE(container_url_allowed("http://user@127.0.0.2:8080/creds"));
  EXPECT_TRUE(container_url_allowed("http://LOCALHOST/creds"));
  EXPECT_TRUE(container_url_allowed("http://[FD00:EC2:0::23]/v1/credentials"));
  EXPECT_FALSE(container_url_allowed("http://localhost.evil.example/creds"));
  EXPECT_FALSE(container_url_allowed("ftp://127.0.0.1/creds"));
  EXPECT_FALSE(container_url_allowed("127.0.0.1/creds"));
}

TEST_F(CredentialsTest, an_empty_config_file_is_read_as_empty_not_as_unreadable) {
  write("credentials", kCredentials);
  write("config", "");  // `touch ~/.aws/config`
  auto settings = resolve_aws_settings(env(), "dev");
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->credentials.access_key_id, "DEVKEY");
}

TEST(ProcessEnvironment, ReadsTheRealEnvironment) {
  auto env = process_environment();
  ASSERT_EQ(setenv("REHOME_CREDENTIALS_TEST", "value", 1), 0);
  EXPECT_EQ(env("REHOME_CREDENTIALS_TEST"), "value");
  unsetenv("REHOME_CREDENTIALS_TEST");
  EXPECT_EQ(env("REHOME_CREDENTIALS_TEST"), std::nullopt);
}

}  // namespace
}  // namespace rehome::s3
