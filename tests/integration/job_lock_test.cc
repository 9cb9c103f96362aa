// The job's lock against a real PostgreSQL 15: workers share it, cleanup holds it alone (a worker
// beside a cleanup, or a cleanup beside a worker or another cleanup, is refused and told who
// holds the job), and the lock survives the main connection being terminated (a restart, a
// failover): the reconnect takes it again before anything else runs, or waits while a session
// holding it the other way has it.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "engine/state_store.h"
#include "fixture.h"
#include "pg/connection.h"
#include "pg/retry.h"

namespace rehome::engine {
namespace {

using namespace std::chrono_literals;
using testing::must;

class JobLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    database_ = std::make_unique<testing::TestDatabase>();
    config_.conninfo = database_->conninfo();
    admin_ = open("rehome test admin");
    first_ = open("rehome first");
    first_state_ = std::make_unique<StateStore>(*first_, "rehome", "job");
    ASSERT_TRUE(first_state_->ensure_schema());
  }

  std::unique_ptr<pg::Connection> open(const std::string& application) {
    pg::ConnectionConfig config = config_;
    config.application_name = application;
    return std::make_unique<pg::Connection>(must(pg::Connection::open(config)));
  }

  /// Ends `pid` and waits (up to 5 s) until it has gone, as a restart would.
  void terminate(int pid) {
    auto done =
        must(admin_->exec("SELECT pg_terminate_backend($1::int, 5000)", {std::to_string(pid)}));
    ASSERT_EQ(done.text(0, 0), "t");
    ASSERT_TRUE(testing::wait_for_backend_exit(pid)) << "backend " << pid << " did not exit";
  }

  /// The pid holding the job's advisory lock, "" when nobody does.
  std::string holder() {
    auto rows =
        must(admin_->exec("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                          "AND objid::bigint = hashtext('job')::bigint & 4294967295"));
    return rows.size() == 0 ? "" : std::string(rows.text(0, 0));
  }

  std::unique_ptr<testing::TestDatabase> database_;
  pg::ConnectionConfig config_;
  std::unique_ptr<pg::Connection> admin_;
  std::unique_ptr<pg::Connection> first_;
  std::unique_ptr<StateStore> first_state_;
};

TEST_F(JobLockTest, workers_share_the_job_and_cleanup_runs_alone) {
  ASSERT_TRUE(first_state_->lock_job(JobLock::kShared));
  auto second = open("rehome second");
  StateStore second_state(*second, "rehome", "job");
  EXPECT_TRUE(second_state.lock_job(JobLock::kShared)) << "workers share the job";

  auto third = open("rehome cleanup");
  StateStore cleanup_state(*third, "rehome", "job");
  Status refused = cleanup_state.lock_job(JobLock::kExclusive);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kConflict);
  EXPECT_NE(refused.error().message.find("cleanup runs alone"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("PostgreSQL session "), std::string::npos)
      << refused.error().message;

  // Once the workers are gone, cleanup takes the job, and turns away a worker and a cleanup.
  first_.reset();
  second.reset();
  ASSERT_TRUE(testing::wait_until([&] { return holder().empty(); })) << "the lock stayed held";
  ASSERT_TRUE(cleanup_state.lock_job(JobLock::kExclusive));
  auto worker = open("rehome worker");
  StateStore worker_state(*worker, "rehome", "job");
  Status turned_away = worker_state.lock_job(JobLock::kShared);
  ASSERT_FALSE(turned_away);
  EXPECT_NE(turned_away.error().message.find("a rehome cleanup"), std::string::npos)
      << turned_away.error().message;
  EXPECT_NE(turned_away.error().message.find("(application \"rehome cleanup\""), std::string::npos)
      << turned_away.error().message;
  auto other = open("rehome other cleanup");
  StateStore other_cleanup(*other, "rehome", "job");
  EXPECT_FALSE(other_cleanup.lock_job(JobLock::kExclusive));

  // Another job is another lock.
  StateStore other_job(*worker, "rehome", "other job");
  EXPECT_TRUE(other_job.lock_job(JobLock::kExclusive));
}

TEST_F(JobLockTest, a_reconnect_takes_the_lock_again_before_anything_else) {
  ASSERT_TRUE(first_state_->lock_job(JobLock::kShared));
  const int old_pid = first_->backend_pid();
  terminate(old_pid);
  EXPECT_EQ(holder(), "");  // the lock died with the session

  Status st = pg::retry_db(*first_, [&]() -> Status {
    auto rows = first_->exec("SELECT 1");
    if (!rows) return rows.error();
    return Ok{};
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_NE(first_->backend_pid(), old_pid);
  EXPECT_EQ(holder(), std::to_string(first_->backend_pid()));

  auto second = open("rehome cleanup");
  StateStore second_state(*second, "rehome", "job");
  Status refused = second_state.lock_job(JobLock::kExclusive);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kConflict);
}

TEST_F(JobLockTest, a_reconnect_waits_while_a_cleanup_holds_the_job_then_takes_it) {
  ASSERT_TRUE(first_state_->lock_job(JobLock::kShared));
  terminate(first_->backend_pid());
  // A cleanup starts while the worker is away.
  auto second = open("rehome second");
  StateStore second_state(*second, "rehome", "job");
  ASSERT_TRUE(second_state.lock_job(JobLock::kExclusive));
  const int second_pid = second->backend_pid();

  int succeeded = 0;  // statements that ran to completion on the first connection
  auto select_one = [&]() -> Status {
    auto rows = first_->exec("SELECT 1");
    if (!rows) return rows.error();
    ++succeeded;
    return Ok{};
  };
  Status waited = pg::retry_db(*first_, select_one, false, 1s);
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().kind, ErrorKind::kTransient);
  EXPECT_NE(waited.error().message.find("the job \"job\"'s lock went with it"), std::string::npos)
      << waited.error().message;
  EXPECT_NE(waited.error().message.find("PostgreSQL session " + std::to_string(second_pid)),
            std::string::npos)
      << waited.error().message;
  EXPECT_EQ(succeeded, 0) << "a statement ran in a session without the job's lock";
  EXPECT_FALSE(first_->healthy());
  EXPECT_EQ(holder(), std::to_string(second_pid));

  // The cleanup finishes: the worker takes the job back on its next reconnect.
  second.reset();
  ASSERT_TRUE(testing::wait_until([&] { return holder().empty(); })) << "the lock stayed held";
  Status resumed = pg::retry_db(*first_, select_one, false, 10s);
  ASSERT_TRUE(resumed) << resumed.error().message;
  EXPECT_EQ(succeeded, 1);
  EXPECT_EQ(holder(), std::to_string(first_->backend_pid()));
}

}  // namespace
}  // namespace rehome::engine
