// Which buckets share a pacer: one per endpoint (URL and region), so that a server's throttling
// slows every request sent to it and only those.
#include "engine/services.h"

#include <gtest/gtest.h>

namespace rehome::engine {
namespace {

JobConfig two(const std::string& legacy_url, const std::string& legacy_region,
              const std::string& production_url, const std::string& production_region) {
  JobConfig config;
  config.legacy.client.endpoint.url = legacy_url;
  config.legacy.client.endpoint.region = legacy_region;
  config.production.client.endpoint.url = production_url;
  config.production.client.endpoint.region = production_region;
  return config;
}

TEST(SameEndpoint, one_url_and_region_is_one_endpoint) {
  EXPECT_TRUE(same_endpoint(
      two("http://127.0.0.1:7480", "us-east-1", "http://127.0.0.1:7480", "us-east-1")));
}

TEST(SameEndpoint, another_url_or_region_is_another_endpoint) {
  EXPECT_FALSE(same_endpoint(
      two("http://127.0.0.1:7480", "us-east-1", "http://127.0.0.1:9000", "us-east-1")));
  EXPECT_FALSE(same_endpoint(
      two("https://s3.amazonaws.com", "us-east-1", "https://s3.amazonaws.com", "eu-west-1")));
}

TEST(S3Services, buckets_on_one_endpoint_share_one_pacer_and_its_slots) {
  JobConfig config = two("http://127.0.0.1:1", "us-east-1", "http://127.0.0.1:1", "us-east-1");
  S3Services s3(config);
  EXPECT_EQ(s3.production_own_pacer, nullptr);
  EXPECT_EQ(&s3.production_pacer(), s3.legacy_pacer.get());
  EXPECT_EQ(s3.request_slots(true), s3::kInitialInFlight);
  EXPECT_EQ(s3.request_slots(false), s3::kInitialInFlight);
}

TEST(S3Services, two_endpoints_have_a_pacer_each) {
  JobConfig config = two("http://127.0.0.1:1", "us-east-1", "http://127.0.0.1:2", "us-east-1");
  config.concurrency = 16;
  S3Services s3(config);
  ASSERT_NE(s3.production_own_pacer, nullptr);
  EXPECT_EQ(s3.request_slots(true), 16u) << "server-side copies use the production endpoint";
  EXPECT_EQ(s3.request_slots(false), 32u) << "a streamed copy uses one or the other";
}

}  // namespace
}  // namespace rehome::engine
