// Several workers on one job, against real PostgreSQL 15 and radosgw (claim_store.h): processes
// started together share the work and each exits with the job's status; a worker that stops
// heartbeating (another machine, partitioned) has its ranges taken over once its lease runs
// out; settings that change results are the job's; `rehome status` reads it all. The kill test
// with 4 workers, SIGKILLs and a SIGSTOP is tests/faults (scripts/test runs its quick size).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "migration_env.h"

namespace rehome::testing {
namespace {

using namespace std::chrono_literals;

class Workers : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    env_ = std::make_unique<MigrationEnv>();
    dir_ = std::filesystem::temp_directory_path() / fmt::format("rehome-workers-{}", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::int64_t count(const std::string& sql) { return env_->sql(sql).int64(0, 0); }

  void expect_all_moved(const std::vector<std::int64_t>& ids) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      ASSERT_EQ(env_->path_of(ids[i]), fmt::format("avatar/avatar-{}.png", i)) << i;
      ASSERT_TRUE(env_->get(env_->production_bucket(), fmt::format("avatar/avatar-{}.png", i)))
          << i;
    }
  }

  std::unique_ptr<MigrationEnv> env_;
  std::filesystem::path dir_;
};

TEST_F(Workers, three_started_together_share_the_job_and_each_exits_with_its_status) {
  auto ids = env_->seed_legacy(600);
  const std::vector<std::string> args = {REHOME_BINARY,      "run", "--progress",       "none",
                                         "--max-rps",        "150", "--list-page-size", "20",
                                         "--split-min-keys", "30",  "--row-range",      "25"};
  std::vector<std::unique_ptr<Child>> workers;
  for (std::size_t i = 0; i < 3; ++i) {
    workers.push_back(std::make_unique<Child>(args, env_->binary_env(),
                                              (dir_ / fmt::format("worker-{}.log", i)).string()));
  }
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(workers[i]->wait_for(120s), 0)
        << slurp((dir_ / fmt::format("worker-{}.log", i)).string());
  }
  expect_all_moved(ids);
  // Three workers registered, each claimed key ranges, and every one of them has stopped.
  EXPECT_EQ(count("SELECT count(*) FROM rehome.workers WHERE stopped_at IS NOT NULL"), 3);
  EXPECT_EQ(count("SELECT count(DISTINCT worker_id) FROM rehome.claims WHERE kind = 'keys'"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM rehome.claims c1 JOIN rehome.claims c2 USING "
                  "(job_id, kind, number) WHERE c1.epoch < c2.epoch AND (c1.ended_at IS NULL "
                  "OR c1.ended_at > c2.claimed_at)"),
            0)
      << "two live owners of one range";

  std::string out;
  EXPECT_EQ(run_rehome({"status"}, env_->binary_env(), &out), 0) << out;
  EXPECT_NE(out.find("round 1: complete"), std::string::npos) << out;
  EXPECT_NE(out.find("objects: 600 copied"), std::string::npos) << out;
  EXPECT_NE(out.find("workers alive: 0 (3 gone)"), std::string::npos) << out;
  EXPECT_EQ(run_rehome({"status", "--json"}, env_->binary_env(), &out), 0) << out;
  EXPECT_NE(out.find("\"stage\": \"complete\""), std::string::npos) << out;
}

TEST_F(Workers, a_silent_workers_ranges_are_taken_over_once_its_lease_runs_out) {
  auto ids = env_->seed_legacy(200);
  std::string out;
  // A first worker records some outcomes and dies on another machine: its claims stay live for
  // their lease (the same host would find its process gone and take them at once).
  auto killed = env_->binary_env();
  killed.push_back("REHOME_FAILPOINT=after-recording-outcomes");
  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--concurrency", "2", "--max-rps", "40"},
                       killed, &out),
            128 + SIGKILL)
      << out;
  env_->sql("UPDATE rehome.workers SET host = 'elsewhere'");
  env_->sql(
      "UPDATE rehome.ranges SET lease_until = now() + interval '4 seconds' "
      "WHERE owner IS NOT NULL AND completed_at IS NULL");
  const auto held =
      count("SELECT count(*) FROM rehome.ranges WHERE owner IS NOT NULL AND completed_at IS NULL");
  ASSERT_GT(held, 0);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(run_rehome({"run", "--progress", "none", "--lease", "3s"}, env_->binary_env(), &out), 0)
      << out;
  EXPECT_GE(std::chrono::steady_clock::now() - started, 3s) << "it waited for the lease";
  expect_all_moved(ids);
  EXPECT_EQ(count("SELECT count(*) FROM rehome.claims WHERE end_reason = 'taken over'"), held);
}

TEST_F(Workers, a_worker_with_other_settings_is_refused_and_told_the_difference) {
  env_->seed_legacy(3);
  std::string out;
  ASSERT_EQ(
      run_rehome({"run", "--progress", "none", "--acl", "public-read"}, env_->binary_env(), &out),
      0)
      << out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none"}, env_->binary_env(), &out), 2) << out;
  EXPECT_NE(out.find("--acl: recorded \"public-read\", given \"\""), std::string::npos) << out;
  EXPECT_NE(out.find("--change-settings"), std::string::npos) << out;
  EXPECT_EQ(
      run_rehome({"run", "--progress", "none", "--change-settings"}, env_->binary_env(), &out), 0)
      << out;
  EXPECT_EQ(run_rehome({"run", "--progress", "none"}, env_->binary_env(), &out), 0) << out;
}

TEST_F(Workers, status_before_any_run_is_a_usage_error_that_says_what_to_check) {
  std::string out;
  EXPECT_EQ(run_rehome({"status"}, env_->binary_env(), &out), 2) << out;
  EXPECT_NE(out.find("nothing has run it yet"), std::string::npos) << out;
}

}  // namespace
}  // namespace rehome::testing
