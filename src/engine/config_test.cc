#include "engine/config.h"

#include <memory>

#include "s3/refreshing_credentials.h"

#include <gtest/gtest.h>

#include <cmath>

#include <functional>
#include <string>

namespace rehome::engine {
namespace {

JobConfig valid() {
  JobConfig c;
  for (BucketSide* side : {&c.legacy, &c.production}) {
    side->client.endpoint.url = "http://127.0.0.1:7480";
    side->client.credentials = {"AKIDTEST", "secret", "", "environment"};
  }
  return c;
}

TEST(ConfigValidation, the_defaults_with_credentials_are_valid) { EXPECT_TRUE(validate(valid())); }

TEST(ConfigValidation, each_bad_setting_is_refused_with_what_to_fix) {
  struct Case {
    const char* what;
    std::function<void(JobConfig&)> change;
    const char* message_part;  // The message names the setting and says what to do.
  };
  const Case cases[] = {
      {"empty legacy bucket", [](JobConfig& c) { c.legacy.bucket.clear(); }, "--legacy-bucket"},
      {"empty production bucket", [](JobConfig& c) { c.production.bucket.clear(); },
       "--production-bucket"},
      {"empty legacy prefix", [](JobConfig& c) { c.legacy.prefix.clear(); }, "--legacy-prefix"},
      {"empty production prefix", [](JobConfig& c) { c.production.prefix.clear(); },
       "--production-prefix"},
      {"same prefixes", [](JobConfig& c) { c.production.prefix = "image/"; }, "overlap"},
      {"nested prefixes", [](JobConfig& c) { c.production.prefix = "image/new/"; }, "overlap"},
      {"nested the other way", [](JobConfig& c) { c.legacy.prefix = "avatar/old/"; }, "overlap"},
      {"bad table name", [](JobConfig& c) { c.table = "avatars; DROP TABLE x"; },
       "invalid PostgreSQL name"},
      {"bad column name", [](JobConfig& c) { c.path_column = "1path"; }, "invalid PostgreSQL name"},
      {"bad schema name", [](JobConfig& c) { c.state_schema = ""; }, "invalid PostgreSQL name"},
      {"no legacy credentials", [](JobConfig& c) { c.legacy.client.credentials = {}; },
       "no S3 credentials for the legacy bucket"},
      {"no production secret",
       [](JobConfig& c) { c.production.client.credentials.secret_access_key.clear(); },
       "no S3 credentials for the production bucket"},
      {"bad endpoint", [](JobConfig& c) { c.legacy.client.endpoint.url = "ftp://x"; },
       "the legacy endpoint"},
      {"zero row workers", [](JobConfig& c) { c.row_connections = 0; }, "--row-connections 0"},
      {"too many row workers", [](JobConfig& c) { c.row_connections = 33; },
       "--row-connections 33"},
      {"zero ranges", [](JobConfig& c) { c.ranges = 0; }, "--ranges 0"},
      {"too many ranges", [](JobConfig& c) { c.ranges = 65; }, "--ranges 65"},
      {"page size zero", [](JobConfig& c) { c.list_page_size = 0; }, "--list-page-size 0"},
      {"page size above S3's", [](JobConfig& c) { c.list_page_size = 1001; },
       "--list-page-size 1001"},
      {"huge concurrency", [](JobConfig& c) { c.concurrency = 5000; }, "--concurrency 5000"},
      {"negative rate", [](JobConfig& c) { c.max_rps = -1; }, "--max-rps"},
      {"infinite rate", [](JobConfig& c) { c.max_rps = HUGE_VAL; }, "--max-rps"},
      {"rate not a number", [](JobConfig& c) { c.max_rps = std::nan(""); }, "--max-rps"},
      {"zero row range", [](JobConfig& c) { c.row_range = 0; }, "--row-range"},
  };
  for (const auto& c : cases) {
    JobConfig config = valid();
    c.change(config);
    Status st = validate(config);
    ASSERT_FALSE(st) << c.what << " was accepted";
    EXPECT_EQ(st.error().kind, ErrorKind::kInvalidInput) << c.what;
    EXPECT_NE(st.error().message.find(c.message_part), std::string::npos)
        << c.what << ": " << st.error().message;
  }
}

TEST(ConfigValidation, the_limits_themselves_are_accepted) {
  const std::function<void(JobConfig&)> edges[] = {
      [](JobConfig& c) { c.row_connections = 1; }, [](JobConfig& c) { c.row_connections = 32; },
      [](JobConfig& c) { c.ranges = 1; },          [](JobConfig& c) { c.ranges = 64; },
      [](JobConfig& c) { c.list_page_size = 1; },  [](JobConfig& c) { c.list_page_size = 1000; },
      [](JobConfig& c) { c.concurrency = 0; },     [](JobConfig& c) { c.concurrency = 4096; },
      [](JobConfig& c) { c.concurrency = 1; },     [](JobConfig& c) { c.max_rps = 0; },
      [](JobConfig& c) { c.row_range = 1; },
  };
  for (const auto& edge : edges) {
    JobConfig config = valid();
    edge(config);
    Status st = validate(config);
    EXPECT_TRUE(st) << st.error().message;
  }
}

TEST(ServerSideCopy, needs_one_endpoint_and_one_set_of_credentials) {
  JobConfig c = valid();
  EXPECT_TRUE(server_side_copy_possible(c));
  c.production.client.endpoint.url = "http://127.0.0.2:7480";
  EXPECT_FALSE(server_side_copy_possible(c));
  c = valid();
  c.production.client.credentials.access_key_id = "OTHER";
  EXPECT_FALSE(server_side_copy_possible(c));
  c = valid();
  c.production.client.endpoint.region = "eu-west-1";
  EXPECT_FALSE(server_side_copy_possible(c));
}

TEST(ServerSideCopy, refreshed_credentials_are_known_by_their_source_not_their_keys) {
  auto source = [](const std::string& name) {
    return std::make_shared<s3::RefreshingCredentials>(
        []() -> Result<s3::TimedCredentials> { return Error::permanent("unused"); }, name);
  };
  JobConfig c = valid();
  // Both buckets with one source share one RefreshingCredentials (cli/settings.cc).
  c.legacy.client.refreshing = source("credential_process of profile dev");
  c.production.client.refreshing = c.legacy.client.refreshing;
  c.production.client.credentials.access_key_id = "ASIAREFRESHED";  // a refresh changes keys
  EXPECT_TRUE(server_side_copy_possible(c));
  c.production.client.refreshing = source("credential_process of profile dev");  // another
  EXPECT_FALSE(server_side_copy_possible(c));
  c.production.client.refreshing.reset();  // static keys on one side, a source on the other
  EXPECT_FALSE(server_side_copy_possible(c));
}

TEST(ServerSideCopy, aws_buckets_of_one_identity_copy_server_side_across_regions) {
  JobConfig c = valid();
  c.legacy.client.endpoint = {"https://s3.us-east-1.amazonaws.com", "us-east-1", false, "", true};
  c.production.client.endpoint = {"https://s3.eu-west-1.amazonaws.com", "eu-west-1", false, "",
                                  true};
  EXPECT_TRUE(server_side_copy_possible(c));
  c.production.client.credentials.access_key_id = "OTHER";
  EXPECT_FALSE(server_side_copy_possible(c));
}

TEST(JobName, names_the_table_and_both_sides_so_a_rerun_finds_its_work) {
  EXPECT_EQ(job_name(valid()), "avatars.path s3://legacy-s3/image/ -> s3://production-s3/avatar/");
}

}  // namespace
}  // namespace rehome::engine
