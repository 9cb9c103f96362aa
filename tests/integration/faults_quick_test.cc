// The promise under faults, small enough for every test run: S3 faults injected by
// tests/faults/fault_proxy.py between the rehome binary and radosgw, and a crash loop of
// SIGKILLs at random moments. The full scenarios (20,000 objects, 50 kills, database faults,
// live application writes) are scripts/faults; see docs/RELIABILITY.md.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "child_process.h"
#include "migration_env.h"

namespace rehome::testing {
namespace {

using namespace std::chrono_literals;

class FaultsQuick : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    if (std::system("python3 -c 'import socketserver' >/dev/null 2>&1") != 0) {
      if (testing::services_required()) GTEST_FAIL() << "python3 is required (scripts/bootstrap)";
      testing::note_service_missing();
      GTEST_SKIP() << "python3 missing";
    }
    env_ = std::make_unique<MigrationEnv>();
    dir_ = std::filesystem::temp_directory_path() / fmt::format("rehome-faults-{}", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  /// Every seeded avatar is in production with its original bytes, its row names it there,
  /// and `rehome verify` (straight to radosgw) finds no row naming a missing object.
  void expect_nothing_lost(const std::vector<std::int64_t>& ids) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const int n = static_cast<int>(i);
      ASSERT_EQ(env_->get(env_->production_bucket(), fmt::format("avatar/avatar-{}.png", n)),
                avatar_bytes(n))
          << "object " << n << " lost";
      ASSERT_EQ(env_->path_of(ids[i]), fmt::format("avatar/avatar-{}.png", n));
    }
    std::string out;
    EXPECT_EQ(run_rehome({"verify", "--progress", "none"}, env_->binary_env(), &out), 0) << out;
    auto twice = env_->sql(
        "SELECT count(*) FROM (SELECT row_id FROM rehome.rewrites GROUP BY row_id "
        "HAVING count(DISTINCT new_path) > 1) t");
    EXPECT_EQ(twice.int64(0, 0), 0) << "a row was rewritten to two different paths";
  }

  std::unique_ptr<MigrationEnv> env_;
  std::filesystem::path dir_;
};

TEST_F(FaultsQuick, completes_with_nothing_lost_when_a_fifth_of_s3_requests_fail) {
  auto ids = env_->seed_legacy(200);
  const std::string port_file = (dir_ / "port").string(),
                    stats_file = (dir_ / "stats.json").string();
  // Every fault kind but the multi-second stall; few SlowDowns, since each one halves the pace.
  Child proxy({"python3",          std::string(REHOME_SOURCE_DIR) + "/tests/faults/fault_proxy.py",
               "--upstream",       env_->config().legacy.client.endpoint.url,
               "--port-file",      port_file,
               "--stats-file",     stats_file,
               "--seed",           "7",
               "--slowdown",       "0.01",
               "--slowdown-retry", "0.01",
               "--internal",       "0.03",
               "--reset-before",   "0.03",
               "--lost-response",  "0.03",
               "--reset-mid-body", "0.03",
               "--truncated",      "0.03",
               "--copy-error-200", "0.10"},
              {}, (dir_ / "proxy.log").string());
  for (int i = 0; i < 200 && !std::filesystem::exists(port_file); ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_TRUE(std::filesystem::exists(port_file)) << slurp((dir_ / "proxy.log").string());
  const std::string endpoint = fmt::format("http://127.0.0.1:{}", std::stoi(slurp(port_file)));

  auto env = env_->binary_env();
  env.push_back("AWS_ENDPOINT_URL=" + endpoint);  // later entries win: rehome talks to the proxy
  const std::string report = (dir_ / "report.json").string();
  int status = -1, runs = 0;
  std::string out;
  while (status != 0 && runs < 4) {
    ++runs;
    status = run_rehome({"run", "--progress", "none", "--concurrency", "16", "--report", report},
                        env, &out);
    ASSERT_TRUE(status == 0 || status == 3) << out;  // 3: some objects failed after retries; rerun
  }
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(slurp(report).find("\"retries\""), std::string::npos);
  proxy.signal(SIGTERM);
  ASSERT_EQ(proxy.wait_for(10s), 0);
  const std::string stats = slurp(stats_file);
  EXPECT_EQ(stats.find("\"injected\": 0,"), std::string::npos)
      << "no fault was injected: " << stats;
  EXPECT_EQ(stats.find("\"copy_error_200\": 0,"), std::string::npos) << stats;
  expect_nothing_lost(ids);
}

TEST_F(FaultsQuick, killed_at_random_moments_a_rerun_finishes_with_nothing_lost) {
  auto ids = env_->seed_legacy(200);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_ms(30, 400);
  const auto env = env_->binary_env();
  const std::string log = (dir_ / "rehome.log").string();
  int kills = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    // A rate cap and small row ranges stretch the run so that kills land in both phases.
    Child run({REHOME_BINARY, "run", "--progress", "none", "--max-rps", "100", "--row-range", "20"},
              env, log);
    int status = run.wait_for(std::chrono::milliseconds(delay_ms(rng)));
    if (status == -1) {
      run.signal(SIGKILL);
      ASSERT_EQ(run.wait_for(10s), 128 + SIGKILL);
      ++kills;
    } else {
      ASSERT_EQ(status, 0) << slurp(log);
      break;
    }
  }
  EXPECT_GE(kills, 3);
  std::string out;
  ASSERT_EQ(run_rehome({"run", "--progress", "none"}, env, &out), 0) << out;
  expect_nothing_lost(ids);
}

}  // namespace
}  // namespace rehome::testing
