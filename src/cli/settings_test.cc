#include "cli/settings.h"

#include "cli/size.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>

namespace rehome::cli {
namespace {

using Env = std::map<std::string, std::string>;

s3::EnvLookup lookup(const Env& env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

// Credentials for both buckets, and no profile files (HOME is unset).
Env base_env() { return {{"AWS_ACCESS_KEY_ID", "AKIDTEST"}, {"AWS_SECRET_ACCESS_KEY", "s3cret"}}; }

std::string to_text(std::size_t v) { return std::to_string(v); }
std::string to_text(std::int64_t v) { return std::to_string(v); }
std::string to_text(int v) { return std::to_string(v); }
std::string to_text(double v) { return std::to_string(static_cast<int>(v)); }

// Every option with a place in JobConfig: two values that validate (one for the flag, one for
// the environment) and how to read the setting back.
struct Row {
  std::string flag;
  std::string flag_value;
  std::string env_value;
  std::function<std::string(const engine::JobConfig&)> read;
};

const std::vector<Row>& rows() {
  using C = engine::JobConfig;
  static const std::vector<Row> table = {
      {"--database-url", "host=flag.example dbname=a", "host=env.example dbname=b",
       [](const C& c) { return c.database.conninfo; }},
      {"--table", "from_flag", "from_env", [](const C& c) { return c.table; }},
      {"--id-column", "flag_id", "env_id", [](const C& c) { return c.id_column; }},
      {"--path-column", "flag_path", "env_path", [](const C& c) { return c.path_column; }},
      {"--state-schema", "flag_state", "env_state", [](const C& c) { return c.state_schema; }},
      {"--legacy-bucket", "flag-legacy", "env-legacy", [](const C& c) { return c.legacy.bucket; }},
      {"--legacy-prefix", "flag/", "env/", [](const C& c) { return c.legacy.prefix; }},
      {"--production-bucket", "flag-prod", "env-prod",
       [](const C& c) { return c.production.bucket; }},
      {"--production-prefix", "flagp/", "envp/", [](const C& c) { return c.production.prefix; }},
      {"--concurrency", "7", "9", [](const C& c) { return to_text(c.concurrency); }},
      {"--ranges", "3", "5", [](const C& c) { return to_text(c.ranges); }},
      {"--split-min-keys", "11", "13", [](const C& c) { return to_text(c.split_min_keys); }},
      {"--list-page-size", "17", "19", [](const C& c) { return to_text(c.list_page_size); }},
      {"--max-rps", "23", "29", [](const C& c) { return to_text(c.max_rps); }},
      {"--row-range", "31", "37", [](const C& c) { return to_text(c.row_range); }},
      {"--row-connections", "4", "6", [](const C& c) { return to_text(c.row_connections); }},
      {"--lease", "20s", "30s", [](const C& c) { return std::to_string(c.lease.count()) + "s"; }},
      {"--metrics-address", "127.0.0.1:9464", ":9465",
       [](const C& c) { return c.metrics_address; }},
      {"--metrics-linger", "30s", "45s",
       [](const C& c) { return std::to_string(c.metrics_linger.count()) + "s"; }},
      {"--acl", "public-read", "bucket-owner-full-control", [](const C& c) { return c.acl; }},
      {"--storage-class", "STANDARD_IA", "INTELLIGENT_TIERING",
       [](const C& c) { return c.storage_class; }},
      {"--lock-timeout", "3s", "5s",
       [](const C& c) { return std::to_string(c.lock_timeout.count()) + "s"; }},
      {"--max-streamed-object", "1048576", "2097152",
       [](const C& c) { return to_text(c.max_streamed_object); }},
      {"--multipart-threshold", "16MiB", "32MiB",
       [](const C& c) { return format_size(c.multipart_threshold); }},
      {"--multipart-chunksize", "6MiB", "7MiB",
       [](const C& c) { return format_size(c.multipart_chunksize); }},
  };
  return table;
}

const OptionSpec* spec(const std::string& flag) {
  for (const auto& s : job_options()) {
    if (flag == s.flag) return &s;
  }
  return nullptr;
}

engine::JobConfig resolve(const GivenFlags& flags, const Env& env) {
  auto resolved = resolve_config(flags, lookup(env));
  if (!resolved) throw std::runtime_error(resolved.error().message);
  return resolved->config;
}

TEST(Settings, every_option_is_in_the_precedence_table) {
  std::set<std::string> tested;
  for (const auto& row : rows()) tested.insert(row.flag);
  for (const auto& s : job_options()) {
    const std::string flag = s.flag;
    // The endpoint, region, profile and CA bundle options have tests of their own below.
    if (flag.ends_with("endpoint") || flag.ends_with("region") || flag.ends_with("profile") ||
        flag == "--ca-bundle" || flag == "--addressing-style") {
      continue;
    }
    EXPECT_TRUE(tested.contains(flag)) << flag << " has no row in the precedence table";
  }
}

TEST(Settings, a_flag_wins_over_its_environment_variable_which_wins_over_the_default) {
  for (const auto& row : rows()) {
    SCOPED_TRACE(row.flag);
    const OptionSpec* s = spec(row.flag);
    ASSERT_NE(s, nullptr);
    Env env = base_env();
    EXPECT_EQ(row.read(resolve({}, env)), s->default_value) << "default";
    EXPECT_EQ(row.read(resolve({{row.flag, row.flag_value}}, env)), row.flag_value) << "flag";
    if (s->env[0] == '\0') continue;
    env[s->env] = row.env_value;
    EXPECT_EQ(row.read(resolve({}, env)), row.env_value) << "environment " << s->env;
    EXPECT_EQ(row.read(resolve({{row.flag, row.flag_value}}, env)), row.flag_value)
        << "flag over environment " << s->env;
    env[s->env] = "";  // Set but empty counts as unset.
    EXPECT_EQ(row.read(resolve({}, env)), s->default_value) << "empty " << s->env;
  }
}

TEST(Settings, the_older_row_workers_variable_still_sets_the_row_connections) {
  Env env = base_env();
  env["REHOME_ROW_WORKERS"] = "5";
  auto resolved = resolve_config({}, lookup(env));
  ASSERT_TRUE(resolved) << resolved.error().message;
  EXPECT_EQ(resolved->config.row_connections, 5u);
  env["REHOME_ROW_CONNECTIONS"] = "3";
  EXPECT_EQ(resolve(GivenFlags{}, env).row_connections, 3u) << "the new name wins";
  EXPECT_FALSE(resolve_config({{"--lease", "1s"}}, lookup(base_env())))
      << "a lease shorter than a few heartbeats";
  Env metrics_env = base_env();
  metrics_env["REHOME_METRICS_ADDRESS"] = "9464";
  auto no_port = resolve_config({}, lookup(metrics_env));
  ASSERT_FALSE(no_port);
  EXPECT_NE(no_port.error().message.find("--metrics-address \"9464\": no port"), std::string::npos);
  EXPECT_NE(no_port.error().message.find("(from REHOME_METRICS_ADDRESS)"), std::string::npos);
}

TEST(Settings, says_where_each_value_came_from) {
  Env env = base_env();
  env["REHOME_TABLE"] = "env_table";
  env["REHOME_LEGACY_BUCKET"] = "env-bucket";
  auto resolved =
      resolve_config({{"--legacy-bucket", "flag-bucket"}, {"--concurrency", "7"}}, lookup(env));
  ASSERT_TRUE(resolved) << resolved.error().message;
  std::map<std::string, std::pair<std::string, std::string>> seen;
  for (const auto& p : resolved->provenance) seen[p.setting] = {p.value, p.origin};
  EXPECT_EQ(seen["table"], std::make_pair(std::string("env_table"), std::string("REHOME_TABLE")));
  EXPECT_EQ(seen["legacy bucket"],
            std::make_pair(std::string("flag-bucket"), std::string("--legacy-bucket")));
  EXPECT_EQ(seen["id column"], std::make_pair(std::string("id"), std::string("default")));
  EXPECT_EQ(seen["concurrency"], std::make_pair(std::string("7"), std::string("--concurrency")));
  EXPECT_EQ(seen["legacy credentials"].second, "environment");
  EXPECT_FALSE(seen.contains("ranges")) << "defaults of tuning options are not listed";
}

TEST(Settings, never_shows_a_secret) {
  Env env = base_env();
  env["DATABASE_URL"] = "postgresql://app:hunter2@db.example/app";
  auto resolved = resolve_config({}, lookup(env));
  ASSERT_TRUE(resolved) << resolved.error().message;
  for (const auto& line : describe(resolved->provenance)) {
    EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
    EXPECT_EQ(line.find("s3cret"), std::string::npos) << line;
  }
  bool named_the_server = false;
  for (const auto& line : describe(resolved->provenance)) {
    if (line.find("host=db.example") != std::string::npos &&
        line.find("DATABASE_URL") != std::string::npos) {
      named_the_server = true;
    }
  }
  EXPECT_TRUE(named_the_server);
}

TEST(Settings, a_number_that_does_not_parse_names_the_option_and_where_it_came_from) {
  Env env = base_env();
  env["REHOME_CONCURRENCY"] = "lots";
  auto from_env = resolve_config({}, lookup(env));
  ASSERT_FALSE(from_env);
  EXPECT_EQ(from_env.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(from_env.error().message,
            "--concurrency \"lots\" (from REHOME_CONCURRENCY) is not a whole number: give a whole "
            "number");
  auto from_flag = resolve_config({{"--row-connections", "-2"}}, lookup(base_env()));
  ASSERT_FALSE(from_flag);
  EXPECT_EQ(from_flag.error().message,
            "--row-connections \"-2\" is not a whole number: give a whole number");
}

// The per-bucket S3 settings: the bucket's own flag, the flag for both, the AWS environment, the
// profile, the default.
class SideSettings : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "rehome-settings-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/config") << "[profile dev]\nregion = eu-west-3\n"
                                       "endpoint_url = http://profile.example:7480\n"
                                       "aws_access_key_id = AKIDDEV\n"
                                       "aws_secret_access_key = devsecret\n";
    env_ = base_env();
    env_["AWS_CONFIG_FILE"] = dir_ + "/config";
    env_["AWS_SHARED_CREDENTIALS_FILE"] = dir_ + "/credentials";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  s3::Endpoint legacy(const GivenFlags& flags) {
    return resolve(flags, env_).legacy.client.endpoint;
  }

  std::string dir_;
  Env env_;
};

TEST_F(SideSettings,
       endpoint_from_the_side_flag_then_the_common_flag_then_environment_then_profile) {
  const GivenFlags both = {{"--legacy-endpoint", "http://side.example"},
                           {"--endpoint", "http://common.example"},
                           {"--profile", "dev"}};
  env_["AWS_ENDPOINT_URL"] = "http://env.example";
  EXPECT_EQ(legacy(both).url, "http://side.example");
  EXPECT_EQ(legacy({{"--endpoint", "http://common.example/"}}).url, "http://common.example");
  EXPECT_EQ(legacy({{"--profile", "dev"}}).url, "http://env.example");
  env_.erase("AWS_ENDPOINT_URL");
  EXPECT_EQ(legacy({{"--profile", "dev"}}).url, "http://profile.example:7480");
  const s3::Endpoint aws = legacy({});
  EXPECT_EQ(aws.url, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(aws.path_style);
}

TEST_F(SideSettings, region_from_the_side_flag_then_the_common_flag_then_environment_then_profile) {
  env_["AWS_REGION"] = "ap-south-1";
  EXPECT_EQ(legacy({{"--legacy-region", "sa-east-1"}, {"--region", "ca-central-1"}}).region,
            "sa-east-1");
  EXPECT_EQ(legacy({{"--region", "ca-central-1"}, {"--profile", "dev"}}).region, "ca-central-1");
  EXPECT_EQ(legacy({{"--profile", "dev"}}).region, "ap-south-1");
  env_.erase("AWS_REGION");
  EXPECT_EQ(legacy({{"--profile", "dev"}}).region, "eu-west-3");
  EXPECT_EQ(legacy({}).region, "us-east-1");
}

TEST_F(SideSettings, profile_from_the_side_flag_then_the_common_flag) {
  std::ofstream(dir_ + "/credentials") << "[other]\naws_access_key_id = AKIDOTHER\n"
                                          "aws_secret_access_key = othersecret\n";
  auto config = resolve({{"--legacy-profile", "dev"}, {"--profile", "other"}}, env_);
  EXPECT_EQ(config.legacy.client.credentials.access_key_id, "AKIDDEV");
  EXPECT_EQ(config.production.client.credentials.access_key_id, "AKIDOTHER");
  // No profile named: the environment's keys.
  EXPECT_EQ(resolve({}, env_).legacy.client.credentials.access_key_id, "AKIDTEST");
}

TEST_F(SideSettings, ca_bundle_from_the_flag_then_aws_ca_bundle_then_the_profile) {
  for (const char* name : {"/flag.pem", "/env.pem", "/profile.pem"}) {
    std::ofstream(dir_ + name) << "-----BEGIN CERTIFICATE-----\n";
  }
  std::ofstream(dir_ + "/config", std::ios::app) << "ca_bundle = " << dir_ << "/profile.pem\n";
  env_["AWS_CA_BUNDLE"] = dir_ + "/env.pem";
  EXPECT_EQ(legacy({{"--ca-bundle", dir_ + "/flag.pem"}, {"--profile", "dev"}}).ca_bundle,
            dir_ + "/flag.pem");
  EXPECT_EQ(legacy({{"--profile", "dev"}}).ca_bundle, dir_ + "/env.pem");
  env_.erase("AWS_CA_BUNDLE");
  EXPECT_EQ(legacy({{"--profile", "dev"}}).ca_bundle, dir_ + "/profile.pem");
  EXPECT_EQ(legacy({}).ca_bundle, "");  // the system's store
  EXPECT_TRUE(legacy({}).verify_tls);
}

TEST_F(SideSettings, an_unreadable_ca_bundle_says_which_setting_named_it) {
  env_["AWS_CA_BUNDLE"] = "/nonexistent/ca.pem";
  auto config = resolve_config({}, lookup(env_));
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "the CA bundle \"/nonexistent/ca.pem\" (from AWS_CA_BUNDLE) cannot be read: name the "
            "PEM file of the CA that signed the endpoint's certificate");
}

TEST_F(SideSettings, no_verify_ssl_from_the_flag_or_the_environment_and_always_a_warning) {
  auto flagged = resolve_config({{"--no-verify-ssl", "true"}}, lookup(env_));
  ASSERT_TRUE(flagged);
  EXPECT_FALSE(flagged->config.legacy.client.endpoint.verify_tls);
  EXPECT_FALSE(flagged->config.production.client.endpoint.verify_tls);
  ASSERT_EQ(flagged->warnings.size(), 1u);
  EXPECT_NE(flagged->warnings[0].find("TLS certificates are NOT verified"), std::string::npos);
  env_["REHOME_NO_VERIFY_SSL"] = "1";
  EXPECT_FALSE(legacy({}).verify_tls);
  env_["REHOME_NO_VERIFY_SSL"] = "0";
  EXPECT_TRUE(legacy({}).verify_tls);
}

TEST_F(SideSettings, path_style_unless_virtual_hosted_is_asked_for) {
  EXPECT_TRUE(legacy({{"--endpoint", "http://x.example"}}).path_style);
  EXPECT_FALSE(
      legacy({{"--endpoint", "http://x.example"}, {"--virtual-hosted", "true"}}).path_style);
  EXPECT_FALSE(
      legacy({{"--endpoint", "http://x.example"}, {"--addressing-style", "virtual"}}).path_style);
}

TEST_F(SideSettings, on_aws_virtual_hosted_unless_the_bucket_name_has_dots) {
  EXPECT_FALSE(legacy({}).path_style);  // AWS's default endpoint
  EXPECT_FALSE(legacy({{"--endpoint", "https://s3.eu-west-3.amazonaws.com"}}).path_style);
  // AWS's wildcard certificate does not cover "my.bucket.s3.<region>.amazonaws.com".
  EXPECT_TRUE(legacy({{"--legacy-bucket", "avatars.example.com"}}).path_style);
  EXPECT_FALSE(resolve({{"--legacy-bucket", "avatars.example.com"}}, env_)
                   .production.client.endpoint.path_style);
  EXPECT_TRUE(legacy({{"--addressing-style", "path"}}).path_style);
  env_["REHOME_ADDRESSING_STYLE"] = "path";
  EXPECT_TRUE(legacy({}).path_style);
  env_["REHOME_ADDRESSING_STYLE"] = "sideways";
  auto bad = resolve_config({}, lookup(env_));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "--addressing-style \"sideways\" (from REHOME_ADDRESSING_STYLE) is not an addressing "
            "style: give auto, path or virtual");
}

TEST(Settings, an_archive_storage_class_is_refused_because_its_copies_could_not_be_served) {
  for (const char* cls : {"GLACIER", "DEEP_ARCHIVE"}) {
    auto resolved = resolve_config({{"--storage-class", cls}}, lookup(base_env()));
    ASSERT_FALSE(resolved) << cls;
    EXPECT_EQ(resolved.error().kind, ErrorKind::kInvalidInput);
    EXPECT_NE(resolved.error().message.find("could not serve them"), std::string::npos)
        << resolved.error().message;
  }
  auto env = base_env();
  env["REHOME_STORAGE_CLASS"] = "DEEP_ARCHIVE";
  EXPECT_FALSE(resolve_config({}, lookup(env)));
}

TEST(Settings, an_unknown_acl_or_storage_class_names_the_ones_that_exist) {
  auto acl = resolve_config({{"--acl", "public"}}, lookup(base_env()));
  ASSERT_FALSE(acl);
  EXPECT_NE(acl.error().message.find("public-read"), std::string::npos) << acl.error().message;
  auto sc = resolve_config({{"--storage-class", "standard"}}, lookup(base_env()));
  ASSERT_FALSE(sc);
  EXPECT_NE(sc.error().message.find("STANDARD_IA"), std::string::npos) << sc.error().message;
}

TEST(Settings, acl_and_storage_class_are_shown_at_start_up_only_when_asked_for) {
  auto plain = resolve_config({}, lookup(base_env()));
  ASSERT_TRUE(plain);
  for (const auto& p : plain->provenance) EXPECT_NE(p.setting, "acl");
  auto asked = resolve_config({{"--acl", "public-read"}}, lookup(base_env()));
  ASSERT_TRUE(asked);
  bool shown = false;
  for (const auto& p : asked->provenance) shown |= p.setting == "acl" && p.origin == "--acl";
  EXPECT_TRUE(shown);
}

TEST(Settings, a_password_on_the_command_line_is_warned_about_but_not_in_the_environment) {
  auto flagged = resolve_config({{"--database-url", "postgresql://app:s3cret@db.example/app"}},
                                lookup(base_env()));
  ASSERT_TRUE(flagged);
  ASSERT_EQ(flagged->warnings.size(), 1u);
  EXPECT_NE(flagged->warnings[0].find("PGPASSWORD"), std::string::npos);
  EXPECT_EQ(flagged->warnings[0].find("s3cret"), std::string::npos) << "never the secret itself";
  auto keyword =
      resolve_config({{"--database-url", "host=db password=s3cret"}}, lookup(base_env()));
  ASSERT_TRUE(keyword);
  EXPECT_EQ(keyword->warnings.size(), 1u);
  auto env = base_env();
  env["DATABASE_URL"] = "postgresql://app:s3cret@db.example/app";
  auto from_env = resolve_config({}, lookup(env));
  ASSERT_TRUE(from_env);
  EXPECT_TRUE(from_env->warnings.empty());
  auto no_password =
      resolve_config({{"--database-url", "postgresql://app@db.example/app"}}, lookup(base_env()));
  ASSERT_TRUE(no_password);
  EXPECT_TRUE(no_password->warnings.empty());
}

}  // namespace
}  // namespace rehome::cli
