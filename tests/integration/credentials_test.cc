// Credentials that come from a source and expire (issue 18, sections 2 and 3), on the real
// radosgw: a credential_process (the AWS CLI's protocol) and, in the expiry test, keys that are
// real on radosgw (extra keys of the test user, made with radosgw-admin) and removed from it at
// their stated expiration, while a rate-capped run goes on longer than their lifetime.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "migration_env.h"

namespace rehome::testing {
namespace {

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

  std::unique_ptr<MigrationEnv> env_;
  std::filesystem::path dir_;
};

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
