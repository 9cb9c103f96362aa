// HTTPS endpoints, on the real radosgw's TLS listener with a certificate signed by a throwaway
// CA (scripts/start-rgw): trusted only when the user names the CA, an untrusted certificate
// refused at once with what to do, and --no-verify-ssl loud about what it gives up. The
// migration suite itself runs over HTTPS as the CTest entry migration_test_https.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "migration_env.h"

namespace rehome::testing {
namespace {

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    const char* https = std::getenv("REHOME_TEST_RGW_TLS_ENDPOINT");
    const char* ca = std::getenv("REHOME_TEST_CA_BUNDLE");
    if (!https || !ca || !*https || !*ca) {
      GTEST_FAIL() << "radosgw's HTTPS listener is not configured (REHOME_TEST_RGW_TLS_ENDPOINT, "
                      "REHOME_TEST_CA_BUNDLE: scripts/services up sets them)";
    }
    https_ = https;
    ca_ = ca;
    env_ = std::make_unique<MigrationEnv>();
    env_->seed_legacy(3);
  }

  // The world's environment, with rehome pointed at the HTTPS listener and no CA named.
  std::vector<std::string> https_env(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> out;
    for (const auto& e : env_->binary_env()) {
      if (e.starts_with("AWS_ENDPOINT_URL=") || e.starts_with("AWS_CA_BUNDLE=")) continue;
      out.push_back(e);
    }
    out.push_back("AWS_ENDPOINT_URL=" + https_);
    out.push_back("AWS_CA_BUNDLE=");
    out.push_back("REHOME_NO_VERIFY_SSL=");
    out.push_back("AWS_CONFIG_FILE=/nonexistent/rehome-test-config");
    for (const auto& e : extra) out.push_back(e);
    return out;
  }

  std::string https_, ca_;
  std::unique_ptr<MigrationEnv> env_;
};

TEST_F(Tls, an_untrusted_certificate_stops_the_command_at_once_naming_the_endpoint_and_what_to_do) {
  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none"}, https_env(), &out), 1) << out;
  const std::string expected = fmt::format(
      "rehome: error: LIST s3://{}/image/ at {}: SSL certificate problem: unable to get local "
      "issuer certificate (permanent; the endpoint's TLS certificate is not trusted: if a "
      "private CA signed it, give that CA's certificate with --ca-bundle FILE or AWS_CA_BUNDLE "
      "(or ca_bundle in the profile))",
      env_->legacy_bucket(), https_);
  EXPECT_NE(out.find(expected), std::string::npos) << out;
  EXPECT_EQ(env_->sql("SELECT count(*) FROM avatars WHERE path LIKE 'avatar/%'").int64(0, 0), 0);
}

TEST_F(Tls, a_private_ca_is_trusted_when_named_by_flag_environment_or_profile) {
  std::string out;
  EXPECT_EQ(run_rehome({"plan", "--progress", "none", "--ca-bundle", ca_}, https_env(), &out), 0)
      << out;
  EXPECT_NE(out.find("legacy CA bundle: " + ca_ + " (from --ca-bundle)"), std::string::npos) << out;

  EXPECT_EQ(run_rehome({"plan", "--progress", "none"}, https_env({"AWS_CA_BUNDLE=" + ca_}), &out),
            0)
      << out;
  EXPECT_NE(out.find("(from AWS_CA_BUNDLE)"), std::string::npos) << out;

  const auto config =
      std::filesystem::temp_directory_path() / fmt::format("rehome-tls-test-{}.config", ::getpid());
  std::ofstream(config) << "[default]\nca_bundle = " << ca_ << "\n";
  EXPECT_EQ(run_rehome({"run", "--progress", "none"},
                       https_env({"AWS_CONFIG_FILE=" + config.string()}), &out),
            0)
      << out;
  EXPECT_NE(out.find("legacy CA bundle: " + ca_ + " (from profile default"), std::string::npos)
      << out;
  std::filesystem::remove(config);
  EXPECT_EQ(env_->get(env_->production_bucket(), "avatar/avatar-0.png"),
            env_->get(env_->legacy_bucket(), "image/avatar-0.png"));
}

TEST_F(Tls, no_verify_ssl_works_and_warns_loudly_about_what_it_gives_up) {
  const std::string warning =
      "warning: TLS certificates are NOT verified (--no-verify-ssl): anyone on the network path "
      "can impersonate the S3 endpoints, read the objects and change them in transit; for a "
      "private CA, give its certificate with --ca-bundle FILE instead";
  std::string out;
  EXPECT_EQ(run_rehome({"plan", "--progress", "none", "--no-verify-ssl"}, https_env(), &out), 0)
      << out;
  EXPECT_NE(out.find(warning), std::string::npos) << out;
  EXPECT_NE(out.find("TLS verification: OFF (from --no-verify-ssl)"), std::string::npos) << out;
  EXPECT_EQ(run_rehome({"plan", "--progress", "none"}, https_env({"REHOME_NO_VERIFY_SSL=1"}), &out),
            0)
      << out;
  EXPECT_NE(out.find("TLS verification: OFF (from REHOME_NO_VERIFY_SSL)"), std::string::npos)
      << out;
}

TEST_F(Tls, a_ca_bundle_that_cannot_be_read_is_a_usage_error_before_any_work) {
  std::string out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none", "--ca-bundle", "/nonexistent/ca.pem"},
                       https_env(), &out),
            2)
      << out;
  EXPECT_NE(out.find("--ca-bundle \"/nonexistent/ca.pem\" cannot be read: name the PEM file of "
                     "the CA that signed the endpoint's certificate"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace rehome::testing
