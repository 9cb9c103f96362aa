#include "s3/addressing.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace rehome::s3 {
namespace {

Endpoint path_style(std::string url) {
  Endpoint endpoint;
  endpoint.url = std::move(url);
  endpoint.region = "us-east-1";
  endpoint.path_style = true;
  return endpoint;
}

Endpoint virtual_hosted(std::string url) {
  auto endpoint = path_style(std::move(url));
  endpoint.path_style = false;
  return endpoint;
}

TEST(ValidateEndpoint, AcceptsSchemeHostAndOptionalPort) {
  for (const char* url : {"http://127.0.0.1:7480", "https://s3.amazonaws.com",
                          "https://s3.eu-west-1.amazonaws.com:443", "http://localhost:9000/",
                          "HTTP://minio.local", "http://[::1]:7480", "http://my_host:1"}) {
    auto status = validate_endpoint(path_style(url));
    EXPECT_TRUE(status) << url << ": " << status.error().message;
  }
}

TEST(ValidateEndpoint, RefusesWhatIsNotAnEndpointAndNamesIt) {
  struct Case {
    const char* url;
    const char* message;
  };
  const Case cases[] = {
      {"127.0.0.1:7480", "endpoint URL \"127.0.0.1:7480\": must start with http:// or https://"},
      {"ftp://host", "endpoint URL \"ftp://host\": must start with http:// or https://"},
      {"http://", "endpoint URL \"http://\": has no host"},
      {"http://:7480", "endpoint URL \"http://:7480\": has no host"},
      {"http://host/bucket",
       "endpoint URL \"http://host/bucket\": must be scheme://host[:port] with no path, query or "
       "fragment"},
      {"http://host?x=1",
       "endpoint URL \"http://host?x=1\": must be scheme://host[:port] with no path, query or "
       "fragment"},
      {"http://host:0",
       "endpoint URL \"http://host:0\": has a port that is not a number from 1 to 65535"},
      {"http://host:65536",
       "endpoint URL \"http://host:65536\": has a port that is not a number from 1 to 65535"},
      {"http://host:",
       "endpoint URL \"http://host:\": has a port that is not a number from 1 to 65535"},
      {"http://host:80:81",
       "endpoint URL \"http://host:80:81\": has a port that is not a number from 1 to 65535"},
      {"http://ho st",
       "endpoint URL \"http://ho st\": has a host with characters a host name cannot have"},
      {"http://[::1", "endpoint URL \"http://[::1\": has a malformed IPv6 address"},
      {"http://user:s3cret@host",
       "endpoint URL \"http://***@host\": must not contain user information: pass credentials "
       "separately"},
  };
  for (const auto& c : cases) {
    auto status = validate_endpoint(path_style(c.url));
    ASSERT_FALSE(status) << c.url;
    EXPECT_EQ(status.error().kind, ErrorKind::kInvalidInput);
    EXPECT_EQ(status.error().message, c.message);
  }
}

TEST(ValidateEndpoint, RefusesAnEmptyOrOddRegion) {
  auto endpoint = path_style("http://127.0.0.1:7480");
  endpoint.region = "";
  EXPECT_FALSE(validate_endpoint(endpoint));
  endpoint.region = "us east/1";
  auto status = validate_endpoint(endpoint);
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("\"us east/1\""), std::string::npos);
}

TEST(ValidateEndpoint, RefusesVirtualHostingOnAnIpAddress) {
  auto status = validate_endpoint(virtual_hosted("http://127.0.0.1:7480"));
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("use path style"), std::string::npos);
  EXPECT_TRUE(validate_endpoint(virtual_hosted("https://s3.amazonaws.com")));
}

TEST(MakeTarget, BuildsPathStyleUrls) {
  struct Case {
    std::string url, bucket, key, expected_url, host, path;
  };
  const Case cases[] = {
      {"http://127.0.0.1:7480", "legacy-s3", "image/a.png",
       "http://127.0.0.1:7480/legacy-s3/image/a.png", "127.0.0.1:7480", "/legacy-s3/image/a.png"},
      {"http://127.0.0.1:7480/", "legacy-s3", "image/a b+c%d~e&f.png",
       "http://127.0.0.1:7480/legacy-s3/image/a%20b%2Bc%25d~e%26f.png", "127.0.0.1:7480",
       "/legacy-s3/image/a%20b%2Bc%25d~e%26f.png"},
      {"http://127.0.0.1:7480", "legacy-s3", "", "http://127.0.0.1:7480/legacy-s3",
       "127.0.0.1:7480", "/legacy-s3"},
      {"http://host:80", "b", "k", "http://host/b/k", "host", "/b/k"},
      {"https://host:443", "b", "k", "https://host/b/k", "host", "/b/k"},
      {"https://host:80", "b", "k", "https://host:80/b/k", "host:80", "/b/k"},
      {"http://[::1]:7480", "b", "k", "http://[::1]:7480/b/k", "[::1]:7480", "/b/k"},
      {"http://h", "b", "caf\xC3\xA9/x", "http://h/b/caf%C3%A9/x", "h", "/b/caf%C3%A9/x"},
      {"http://h", "b", "a//b/", "http://h/b/a//b/", "h", "/b/a//b/"},
  };
  for (const auto& c : cases) {
    auto target = make_target(path_style(c.url), c.bucket, c.key);
    EXPECT_EQ(target.url, c.expected_url);
    EXPECT_EQ(target.host, c.host);
    EXPECT_EQ(target.path, c.path);
  }
}

TEST(MakeTarget, BuildsVirtualHostedUrls) {
  auto target = make_target(virtual_hosted("https://s3.amazonaws.com"), "bucket", "image/a b.png");
  EXPECT_EQ(target.url, "https://bucket.s3.amazonaws.com/image/a%20b.png");
  EXPECT_EQ(target.host, "bucket.s3.amazonaws.com");
  EXPECT_EQ(target.path, "/image/a%20b.png");

  auto root = make_target(virtual_hosted("https://s3.amazonaws.com"), "bucket", "");
  EXPECT_EQ(root.url, "https://bucket.s3.amazonaws.com/");
  EXPECT_EQ(root.path, "/");
}

TEST(MakeTarget, SortsAndEncodesTheQueryAsSigV4Does) {
  QueryParams query = {{"prefix", "image/a b"},
                       {"list-type", "2"},
                       {"encoding-type", "url"},
                       {"continuation-token", "1ue/Gc+x="},
                       {"max-keys", "1000"}};
  auto target = make_target(path_style("http://127.0.0.1:7480"), "legacy-s3", "", query);
  EXPECT_EQ(target.url,
            "http://127.0.0.1:7480/legacy-s3?continuation-token=1ue%2FGc%2Bx%3D&encoding-type=url"
            "&list-type=2&max-keys=1000&prefix=image%2Fa%20b");
  EXPECT_EQ(target.path, "/legacy-s3");
}

TEST(MakeTarget, WritesValuelessParametersWithAnEqualsSign) {
  auto target = make_target(path_style("http://h"), "b", "", {{"delete", ""}});
  EXPECT_EQ(target.url, "http://h/b?delete=");
}

TEST(MakeTarget, ThrowsOnAnEndpointThatWasNeverValidated) {
  EXPECT_THROW(make_target(path_style("ftp://h"), "b", "k"), std::invalid_argument);
}

TEST(S3Uri, NamesBucketAndKeyOnOneLine) {
  EXPECT_EQ(s3_uri("legacy-s3", "image/a b.png"), "s3://legacy-s3/image/a b.png");
  EXPECT_EQ(s3_uri("legacy-s3", "image/a\nb\x7F.png"), "s3://legacy-s3/image/a%0Ab%7F.png");
  EXPECT_EQ(s3_uri("b", ""), "s3://b/");
}

}  // namespace
TEST(IsAwsEndpoint, knows_aws_hosts_from_any_other_store) {
  EXPECT_TRUE(is_aws_endpoint("https://s3.amazonaws.com"));
  EXPECT_TRUE(is_aws_endpoint("https://s3.eu-west-3.amazonaws.com"));
  EXPECT_TRUE(is_aws_endpoint("https://s3.cn-north-1.amazonaws.com.cn"));
  EXPECT_FALSE(is_aws_endpoint("http://127.0.0.1:7480"));
  EXPECT_FALSE(is_aws_endpoint("https://amazonaws.com.evil.example"));
  EXPECT_FALSE(is_aws_endpoint("https://minio.example:9000/amazonaws.com"));
}

}  // namespace rehome::s3
