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
  auto settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_EQ(settings.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(settings.error().message,
            "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and "
            "profile default has no aws_access_key_id in " +
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
  auto settings = resolve_aws_settings(env());
  ASSERT_FALSE(settings);
  EXPECT_NE(settings.error().message.find("(no HOME, no file)"), std::string::npos);
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
