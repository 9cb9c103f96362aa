// Credentials that come from a source and expire (issue 18, sections 2 and 3), on the real
// radosgw: a credential_process (the AWS CLI's protocol), a role assumed through radosgw's own
// STS (a session token radosgw issues and checks), and, through the loopback stand-in
// tests/faults/aws_credentials.py, the sources only AWS runs (instance metadata, the container
// endpoint, AssumeRoleWithWebIdentity). The stand-in hands out keys that are real on radosgw
// (extra keys of the test user, made with radosgw-admin) and removes each at its stated
// expiration; so does the expiry test's credential_process, while a rate-capped run goes on
// longer than their lifetime.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "child_process.h"
#include "http/blocking.h"
#include "migration_env.h"
#include "s3/credential_sources.h"

namespace rehome::testing {
namespace {

// The stand-in for AWS's credential endpoints, minting real radosgw keys that live `lifetime`
// seconds. Stopped with SIGTERM at scope end, so that it removes the keys still present.
class CredentialStandIn {
 public:
  CredentialStandIn(const std::filesystem::path& dir, int lifetime,
                    const std::vector<std::string>& extra = {}) {
    const char* rgw_dir = std::getenv("REHOME_RGW_DIR");
    if (rgw_dir == nullptr || *rgw_dir == '\0')
      throw std::runtime_error("REHOME_RGW_DIR (scripts/services up sets it)");
    const auto port_file = dir / "stand-in.port";
    std::filesystem::remove(port_file);
    log_ = (dir / "stand-in.log").string();
    std::vector<std::string> argv = {
        "python3",     std::string(REHOME_SOURCE_DIR) + "/tests/faults/aws_credentials.py",
        "--ceph-conf", (std::filesystem::path(rgw_dir) / "ceph.conf").string(),
        "--uid",       "rehome-test",
        "--lifetime",  std::to_string(lifetime),
        "--port-file", port_file.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_ = std::make_unique<Child>(argv, std::vector<std::string>{}, log_);
    for (int i = 0; i < 400 && slurp(port_file.string()).empty(); ++i) {
      if (child_->wait_for(std::chrono::milliseconds(25)) != -1) break;  // it died
    }
    const std::string port = slurp(port_file.string());
    if (port.empty())
      throw std::runtime_error("the credentials stand-in did not start: " + slurp(log_));
    endpoint_ = fmt::format("http://127.0.0.1:{}", std::stoi(port));
  }
  ~CredentialStandIn() {
    child_->signal(SIGTERM);
    child_->wait_for(std::chrono::seconds(10));
  }

  const std::string& endpoint() const { return endpoint_; }
  nlohmann::json stats() const {
    http::Request request;
    request.url = endpoint_ + "/__stand_in/stats";
    http::Response response = http::perform(request);
    return nlohmann::json::parse(response.body);
  }
  std::string log() const { return slurp(log_); }
  /// The next `count` credential answers fail with 500 (POST /__stand_in/fail).
  void fail_next(int count) const {
    http::Request request;
    request.method = "POST";
    request.url = endpoint_ + "/__stand_in/fail";
    request.body = fmt::format(R"({{"count": {}, "status": 500}})", count);
    request.headers = {{"content-type", "application/json"}};
    http::perform(request);
  }

 private:
  std::unique_ptr<Child> child_;
  std::string endpoint_;
  std::string log_;
};

class Credentials : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    env_ = std::make_unique<MigrationEnv>();
    dir_ = std::filesystem::temp_directory_path() / fmt::format("rehome-creds-{}", ::getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A profile "proc" whose credential_process is `script` (written executable).
  std::string write_profile(const std::string& script) {
    const auto path = dir_ / "credential-process";
    std::ofstream(path) << script;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    const auto config = dir_ / "config";
    std::ofstream(config) << "[profile proc]\ncredential_process = " << path.string() << "\n";
    return config.string();
  }

  std::vector<std::string> env_with(const std::string& config) {
    auto env = env_->binary_env();
    env.push_back("AWS_CONFIG_FILE=" + config);
    env.push_back("AWS_SHARED_CREDENTIALS_FILE=" + (dir_ / "no-credentials").string());
    return env;
  }

  // The rehome environment with no keys in it (an empty variable counts as unset) and no
  // settings files: only the source under test can give credentials.
  std::vector<std::string> env_without_keys() {
    auto env = env_->binary_env();
    env.insert(env.end(), {"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=",
                           "AWS_PROFILE=", "AWS_CONFIG_FILE=" + (dir_ / "no-config").string(),
                           "AWS_SHARED_CREDENTIALS_FILE=" + (dir_ / "no-credentials").string(),
                           "AWS_EC2_METADATA_DISABLED=true"});
    return env;
  }

  std::string file(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  // Runs over `env`; every avatar moved, and the start-up line names the source.
  void expect_a_run_that_moves(const std::vector<std::string>& env, const std::string& named,
                               std::vector<std::string> args = {}) {
    auto ids = env_->seed_legacy(6);
    args.insert(args.begin(), {"run", "--progress", "none"});
    std::string out;
    ASSERT_EQ(run_rehome(args, env, &out), 0) << out;
    EXPECT_NE(out.find(named), std::string::npos) << out;
    EXPECT_EQ(out.find(std::getenv("REHOME_TEST_RGW_SECRET_KEY")), std::string::npos);
    for (std::size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(env_->path_of(ids[i]), fmt::format("avatar/avatar-{}.png", i));
  }

  std::unique_ptr<MigrationEnv> env_;
  std::filesystem::path dir_;
};

// A role assumed through radosgw's STS: temporary keys with a session token radosgw issued and
// checks on every request. Both buckets share the one source.
TEST_F(Credentials, a_role_assumed_through_sts_with_a_source_profile_moves_the_avatars) {
  const char* role = std::getenv("REHOME_TEST_RGW_ROLE_ARN");
  ASSERT_TRUE(role && *role) << "REHOME_TEST_RGW_ROLE_ARN (scripts/start-rgw sets it)";
  const std::string config = file(
      "config", fmt::format("[profile source]\naws_access_key_id = {}\naws_secret_access_key = {}\n"
                            "\n[profile mover]\nrole_arn = {}\nsource_profile = source\n"
                            "role_session_name = rehome-test\nduration_seconds = 900\n"
                            "\n[profile outsider]\nrole_arn = arn:aws:iam:::role/nobody\n"
                            "source_profile = source\n",
                            std::getenv("REHOME_TEST_RGW_ACCESS_KEY"),
                            std::getenv("REHOME_TEST_RGW_SECRET_KEY"), role));
  auto env = env_without_keys();
  env.push_back("AWS_CONFIG_FILE=" + config);
  expect_a_run_that_moves(
      env,
      fmt::format("legacy credentials: assumed role (STS AssumeRole) (refreshed "
                  "before they expire) (from role {} assumed with profile "
                  "source in {} (profile mover in {}))",
                  role, config, config),
      {"--profile", "mover"});

  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none", "--profile", "outsider"}, env, &out), 1)
      << out;
  EXPECT_NE(out.find("credentials from role arn:aws:iam:::role/nobody assumed with profile "
                     "source"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(fmt::format("POST {}/: HTTP 4", std::getenv("REHOME_TEST_RGW_ENDPOINT"))),
            std::string::npos)
      << out;
}

// Temporary keys with a session token, given as static keys: in the environment
// (AWS_SESSION_TOKEN) and in a profile (aws_session_token). radosgw's STS issues them, so
// radosgw checks the token on every request; without it the same keys are refused.
TEST_F(Credentials, static_keys_with_a_session_token_from_the_environment_or_a_profile) {
  const char* role = std::getenv("REHOME_TEST_RGW_ROLE_ARN");
  ASSERT_TRUE(role && *role) << "REHOME_TEST_RGW_ROLE_ARN (scripts/start-rgw sets it)";
  s3::CredentialSource assume;
  assume.kind = s3::CredentialSource::Kind::kAssumeRole;
  assume.role_arn = role;
  assume.role_session_name = "rehome-static-test";
  assume.sts = {std::getenv("REHOME_TEST_RGW_ENDPOINT"), "us-east-1"};
  auto signer = std::make_shared<s3::CredentialSource>();
  signer->credentials = {std::getenv("REHOME_TEST_RGW_ACCESS_KEY"),
                         std::getenv("REHOME_TEST_RGW_SECRET_KEY"), "", "test"};
  assume.source = signer;
  auto temporary = s3::fetch_credentials(assume, {});
  ASSERT_TRUE(temporary) << temporary.error().message;
  const s3::Credentials& c = temporary->credentials;
  ASSERT_FALSE(c.session_token.empty());

  auto env = env_without_keys();
  env.insert(env.end(), {"AWS_ACCESS_KEY_ID=" + c.access_key_id,
                         "AWS_SECRET_ACCESS_KEY=" + c.secret_access_key,
                         "AWS_SESSION_TOKEN=" + c.session_token});
  expect_a_run_that_moves(
      env, "legacy credentials: access key " + c.access_key_id + " (from environment)");

  auto with_profile = env_without_keys();
  const std::string credentials = file(
      "credentials", fmt::format("[temporary]\naws_access_key_id = {}\naws_secret_access_key = {}\n"
                                 "aws_session_token = {}\n",
                                 c.access_key_id, c.secret_access_key, c.session_token));
  with_profile.push_back("AWS_SHARED_CREDENTIALS_FILE=" + credentials);
  expect_a_run_that_moves(with_profile,
                          "legacy credentials: access key " + c.access_key_id +
                              " (from profile temporary in " + credentials + ")",
                          {"--profile", "temporary"});

  // The token is what makes them work: without it radosgw refuses the keys.
  auto no_token = env_without_keys();
  no_token.insert(no_token.end(), {"AWS_ACCESS_KEY_ID=" + c.access_key_id,
                                   "AWS_SECRET_ACCESS_KEY=" + c.secret_access_key});
  env_->seed_legacy(1, 100);
  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none"}, no_token, &out), 1) << out;
  EXPECT_EQ(out.find(c.session_token), std::string::npos);
}

// IRSA's protocol, through the stand-in's STS (radosgw's would need an OIDC provider it can
// reach): the token file is sent as it is at each fetch; a wrong one is named.
TEST_F(Credentials, a_web_identity_token_file_is_exchanged_with_sts) {
  const std::string token = file("token", "eyJhbGciOiJSUzI1NiJ9.rehome-test.sig\n");
  // What the identity provider issued (the stand-in's side), and what the pod holds (rehome's).
  const std::string issued = file("issued", "eyJhbGciOiJSUzI1NiJ9.rehome-test.sig\n");
  CredentialStandIn stand_in(dir_, 600, {"--web-identity-token-file", issued});
  auto env = env_without_keys();
  env.insert(env.end(),
             {"AWS_WEB_IDENTITY_TOKEN_FILE=" + token,
              "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/rehome-test-role",
              "AWS_ROLE_SESSION_NAME=rehome-irsa", "AWS_ENDPOINT_URL_STS=" + stand_in.endpoint()});
  expect_a_run_that_moves(env,
                          "legacy credentials: web identity (STS AssumeRoleWithWebIdentity) "
                          "(refreshed before they expire) (from role "
                          "arn:aws:iam::123456789012:role/rehome-test-role with the web identity "
                          "token " +
                              token + " (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN))");
  EXPECT_EQ(stand_in.stats()["sts"], 1) << "both buckets share one fetch";

  // The same, configured in a profile.
  auto with_profile = env_without_keys();
  with_profile.push_back("AWS_ENDPOINT_URL_STS=" + stand_in.endpoint());
  with_profile.push_back(
      "AWS_CONFIG_FILE=" +
      file("config",
           "[profile pod]\nrole_arn = arn:aws:iam::123456789012:role/rehome-test-role\n"
           "web_identity_token_file = " +
               token + "\n"));
  expect_a_run_that_moves(with_profile, "(profile pod in ", {"--profile", "pod"});

  file("token", "a-token-the-provider-never-issued");
  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none"}, env, &out), 1) << out;
  EXPECT_NE(out.find("HTTP 400 (InvalidIdentityToken: "), std::string::npos) << out;
  EXPECT_EQ(out.find("a-token-the-provider-never-issued"), std::string::npos) << out;
}

// ECS and EKS Pod Identity: the container endpoint, its Authorization token read from a file.
TEST_F(Credentials, the_container_endpoint_with_its_authorization_token_file) {
  const std::string auth = file("auth", "pod-identity-token-1\n");
  CredentialStandIn stand_in(dir_, 600, {"--container-token-file", auth});
  auto env = env_without_keys();
  const std::string url = stand_in.endpoint() + "/v2/credentials/rehome-task";
  env.insert(env.end(), {"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + url,
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + auth});
  expect_a_run_that_moves(env,
                          "legacy credentials: container credentials (refreshed before they "
                          "expire) (from container credentials endpoint " +
                              url + " (AWS_CONTAINER_CREDENTIALS_FULL_URI))");
  EXPECT_EQ(stand_in.stats()["container"], 1);
  EXPECT_EQ(stand_in.log().find("pod-identity-token"), std::string::npos);

  file("auth", "pod-identity-token-2");  // rotated: read again
  auto more = env_->seed_legacy(2);
  std::string out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none"}, env, &out), 0) << out;

  env.push_back("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + file("stale", "not-the-token"));
  EXPECT_EQ(run_rehome({"run", "--progress", "none"}, env, &out), 1) << out;
  EXPECT_NE(out.find("GET " + url + ": HTTP 401"), std::string::npos) << out;
  EXPECT_EQ(out.find("not-the-token"), std::string::npos) << "a token is never shown";
  EXPECT_EQ(out.find("pod-identity-token"), std::string::npos);
}

// A refresh that keeps failing past the credentials' expiry: the stand-in removes the key from
// radosgw at that moment (radosgw then answers AccessDenied to it). Requests wait for new
// credentials instead of failing objects one by one; the run completes with nothing failed.
TEST_F(Credentials, requests_wait_while_a_refresh_fails_past_the_expiry) {
  CredentialStandIn stand_in(dir_, 20);
  auto ids = env_->seed_legacy(120);
  auto env = env_without_keys();
  env.push_back("AWS_CONTAINER_CREDENTIALS_FULL_URI=" + stand_in.endpoint() +
                "/v2/credentials/rehome-task");
  // Once rehome has its first key, its next nine fetches fail. Each refresh tries three times a
  // second apart, then backs off 1, 2, 4 s: the refresh due at 10 s fails at 10-12, 13-15 and
  // 17-19 s and succeeds at about 23 s, three seconds after the key was removed.
  std::thread saboteur([&] {
    for (int i = 0; i < 600 && stand_in.stats()["container"] < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stand_in.fail_next(9);
  });
  std::string out;
  const int status =
      run_rehome({"run", "--progress", "none", "--max-rps", "4", "--concurrency", "4"}, env, &out);
  saboteur.join();
  ASSERT_EQ(status, 0) << out;
  for (std::size_t i = 0; i < ids.size(); ++i)
    EXPECT_EQ(env_->path_of(ids[i]), fmt::format("avatar/avatar-{}.png", i));
  const auto stats = stand_in.stats();
  EXPECT_GE(stats["injected"], 9) << stats.dump();
  EXPECT_GE(stats["removed"], 1) << stats.dump();
  EXPECT_NE(out.find(" 0 failed"), std::string::npos) << out;
}

// EC2: IMDSv2 (session token, then the role's credentials) is the chain's last resort.
TEST_F(Credentials, instance_metadata_v2_is_the_last_resort) {
  CredentialStandIn stand_in(dir_, 600);
  auto env = env_without_keys();
  env.insert(env.end(), {"AWS_EC2_METADATA_DISABLED=",
                         "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + stand_in.endpoint()});
  expect_a_run_that_moves(env,
                          "legacy credentials: EC2 instance metadata (IMDSv2) (refreshed before "
                          "they expire) (from EC2 instance metadata at " +
                              stand_in.endpoint() + ")");
  EXPECT_EQ(stand_in.stats()["imds_tokens"], 1);

  // Nothing anywhere: one quick try of the metadata, then everything tried is named.
  env.push_back("AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1");
  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none"}, env, &out), 1) << out;
  EXPECT_NE(out.find("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, "
                     "AWS_WEB_IDENTITY_TOKEN_FILE is not set, and profile default has no "
                     "aws_access_key_id in "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("the EC2 instance metadata service did not give any (PUT "
                     "http://127.0.0.1:1/latest/api/token: no answer"),
            std::string::npos)
      << out;
}

TEST_F(Credentials, a_credential_process_gives_the_keys_and_is_named_at_start_up) {
  env_->seed_legacy(5);
  const std::string script = fmt::format(
      "#!/bin/sh\nprintf '{{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", "
      "\"Expiration\": \"%s\"}}' \"$REHOME_TEST_RGW_ACCESS_KEY\" \"$REHOME_TEST_RGW_SECRET_KEY\" "
      "\"$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\"\n");
  std::string out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--profile", "proc"},
                       env_with(write_profile(script)), &out),
            0)
      << out;
  EXPECT_NE(out.find("legacy credentials: credential_process (refreshed before they expire) (from "
                     "credential_process of profile proc in "),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find(std::getenv("REHOME_TEST_RGW_SECRET_KEY")), std::string::npos);
  EXPECT_EQ(env_->sql("SELECT count(*) FROM avatars WHERE path LIKE 'avatar/%'").int64(0, 0), 5);
}

TEST_F(Credentials, a_credential_process_that_fails_stops_the_command_with_its_reason) {
  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none", "--profile", "proc"},
                       env_with(write_profile("#!/bin/sh\necho 'SSO session expired: run aws sso "
                                              "login' >&2\nexit 2\n")),
                       &out),
            1)
      << out;
  EXPECT_NE(out.find("credentials from credential_process of profile proc in "), std::string::npos)
      << out;
  EXPECT_NE(out.find("credential_process failed (exit 2): SSO session expired: run aws sso login"),
            std::string::npos)
      << out;
}

// The expiry test, quick variant: every key the process hands out is a new radosgw key that
// states a 30-second lifetime and is removed from radosgw at that moment. A run capped to take
// longer than several lifetimes must finish, having refreshed, with nothing lost.
TEST_F(Credentials, a_run_longer_than_its_credentials_lifetime_refreshes_and_completes) {
  const char* rgw_dir = std::getenv("REHOME_RGW_DIR");
  ASSERT_TRUE(rgw_dir && *rgw_dir) << "REHOME_RGW_DIR (scripts/services up sets it)";
  auto ids = env_->seed_legacy(240);
  const auto counter = dir_ / "handed-out";
  const std::string script = fmt::format(
      R"SH(#!/bin/sh
# Hands out a fresh radosgw key valid for 30 s, and removes it from radosgw when it expires.
set -e
n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 ))
echo "$n" > {counter}
key="EXPIRY$$$n"
secret="expiry-secret-$$-$n"
radosgw-admin -c {conf} key create --uid=rehome-test --key-type=s3 \
  --access-key="$key" --secret-key="$secret" >/dev/null 2>&1
(sleep 30; radosgw-admin -c {conf} key rm --uid=rehome-test --key-type=s3 \
  --access-key="$key" >/dev/null 2>&1) </dev/null >/dev/null 2>&1 &
printf '{{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "",
  "Expiration": "%s"}}' "$key" "$secret" "$(date -u -d '+30 seconds' +%Y-%m-%dT%H:%M:%SZ)"
)SH",
      fmt::arg("counter", counter.string()),
      fmt::arg("conf", (std::filesystem::path(rgw_dir) / "ceph.conf").string()));
  std::string out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--profile", "proc", "--max-rps", "6",
                        "--concurrency", "4"},
                       env_with(write_profile(script)), &out),
            0)
      << out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(env_->path_of(ids[i]), fmt::format("avatar/avatar-{}.png", i));
  }
  int handed_out = 0;
  std::ifstream(counter) >> handed_out;
  // Two sides fetch at start-up; a run of over 40 s refreshes each side at least once more.
  EXPECT_GE(handed_out, 4) << out;
}

}  // namespace
}  // namespace rehome::testing
