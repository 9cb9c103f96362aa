// What a live application does to a migration, on real PostgreSQL + radosgw (issue 17): it
// re-uploads avatars in place, deletes production copies, keeps inserting rows. Each test is
// named after the behaviour rehome must show.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "engine/commands.h"
#include "engine/exit_status.h"
#include "engine/state_store.h"
#include "migration_env.h"

namespace rehome::testing {
namespace {

using engine::Outcome;

class Application : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    env_ = std::make_unique<MigrationEnv>();
  }

  engine::Summary run(bool relist = false) {
    auto config = env_->config();
    config.relist = relist;
    return engine::run(config, {});
  }
  engine::Summary verify() { return engine::verify(env_->config(), {}); }
  engine::Summary cleanup() {
    return engine::cleanup(env_->config(), {std::chrono::seconds(0), false}, {});
  }

  std::string legacy_key(int i) { return fmt::format("image/avatar-{}.png", i); }
  std::string production_key(int i) { return fmt::format("avatar/avatar-{}.png", i); }
  std::optional<std::string> legacy(int i) {
    return env_->get(env_->legacy_bucket(), legacy_key(i));
  }
  std::optional<std::string> production(int i) {
    return env_->get(env_->production_bucket(), production_key(i));
  }

  std::unique_ptr<MigrationEnv> env_;
};

// Issue 17, section 1: the application re-uploads image/<id>.png after rehome copied it, so rows
// rewritten to rehome's copy serve the older picture. verify says so (exit 3), cleanup keeps the
// newer legacy object, and `run --relist` replaces rehome's own copy with the newer content.
TEST_F(Application,
       an_in_place_reupload_after_the_copy_is_reported_by_verify_and_refreshed_by_relist) {
  auto ids = env_->seed_legacy(3);
  ASSERT_EQ(run().outcome, Outcome::kComplete);
  const std::string same_size(legacy(0)->size(), 'n');  // listings alone cannot tell it apart
  env_->put(env_->legacy_bucket(), legacy_key(0), same_size);
  env_->put(env_->legacy_bucket(), legacy_key(1), "a re-uploaded picture of another size");

  auto stale = verify();
  EXPECT_EQ(stale.objects_stale, 2u);
  EXPECT_EQ(stale.outcome, Outcome::kIncomplete);
  EXPECT_EQ(engine::exit_status(stale), engine::kExitIncomplete);
  ASSERT_FALSE(stale.problems.empty());
  EXPECT_NE(stale.problems.back().find(legacy_key(0)), std::string::npos) << stale.problems.back();
  EXPECT_NE(stale.problems.back().find("--relist"), std::string::npos);

  // Cleanup never deletes a legacy object newer than rehome's copy.
  auto kept = cleanup();
  ASSERT_EQ(kept.outcome, Outcome::kComplete) << kept.error;
  EXPECT_EQ(kept.objects_deleted, 1u);
  EXPECT_EQ(legacy(0), same_size);
  EXPECT_TRUE(legacy(1));

  auto repaired = run(/*relist=*/true);
  EXPECT_EQ(repaired.outcome, Outcome::kComplete) << repaired.error;
  EXPECT_EQ(repaired.objects_refreshed, 2u);
  EXPECT_EQ(production(0), same_size);
  EXPECT_EQ(production(1), "a re-uploaded picture of another size");
  EXPECT_EQ(env_->path_of(ids[0]), production_key(0));

  auto clean = verify();
  EXPECT_EQ(clean.objects_stale, 0u);
  EXPECT_EQ(engine::exit_status(clean), engine::kExitOk);
  EXPECT_EQ(cleanup().objects_deleted, 2u);  // now identical: the legacy copies may go
}

// The one object rehome replaces is its own copy: once the application has written the
// production key itself, a relist leaves it alone and reports the conflict.
TEST_F(Application, a_copy_the_application_replaced_in_production_is_never_overwritten) {
  env_->seed_legacy(1);
  ASSERT_EQ(run().outcome, Outcome::kComplete);
  env_->put(env_->production_bucket(), production_key(0), "the app's newest upload");
  env_->put(env_->legacy_bucket(), legacy_key(0), "a late legacy re-upload");

  auto summary = run(/*relist=*/true);
  EXPECT_EQ(summary.objects_refreshed, 0u);
  EXPECT_EQ(summary.objects_conflict, 1u);
  EXPECT_EQ(production(0), "the app's newest upload");
  EXPECT_EQ(verify().objects_stale, 0u);  // not rehome's copy: a conflict, not a stale copy
}

// A refresh that fails is not forgotten: the record of the copy outlives the failed outcome,
// and the next run repairs it.
TEST_F(Application, a_refresh_left_for_the_next_run_is_still_made_by_it) {
  env_->seed_legacy(1);
  ASSERT_EQ(run().outcome, Outcome::kComplete);
  env_->put(env_->legacy_bucket(), legacy_key(0), "newer");
  // The legacy bucket refuses to serve the object for a while: the refresh fails.
  env_->deny_get(env_->legacy_bucket(), legacy_key(0));
  auto refused = run(/*relist=*/true);
  EXPECT_EQ(refused.objects_failed, 1u) << refused.error;
  EXPECT_EQ(verify().objects_stale, 1u);  // the record says failed; the copy is still stale
  env_->python(fmt::format("print(s3.request('DELETE', '{}', query={{'policy': ''}})[0])",
                           env_->legacy_bucket()));
  auto repaired = run();
  EXPECT_EQ(repaired.objects_refreshed, 1u) << repaired.error;
  EXPECT_EQ(production(0), "newer");
}

// Issue 17, section 2: a resumed job does not trust an earlier run's `copied` record blindly.
// Between the runs an orphan sweeper deletes one copy and another writer replaces one; the
// rerun checks the earlier records against production's listing (no HEAD per object), copies
// the deleted one again before its row moves, and leaves the replaced one's row legacy.
TEST_F(Application, a_production_copy_deleted_before_the_rewrite_is_copied_again_first) {
  auto ids = env_->seed_legacy(4);
  auto killed = env_->binary_env();
  killed.push_back("REHOME_FAILPOINT=between-copy-and-rewrite");
  ASSERT_EQ(run_rehome({"run", "--progress", "none"}, killed), 128 + SIGKILL);
  const auto original = legacy(1);
  env_->python(fmt::format("print(s3.request('DELETE', '{}', '{}')[0])", env_->production_bucket(),
                           production_key(1)));
  env_->put(env_->production_bucket(), production_key(2), "another writer's object");
  ASSERT_FALSE(production(1));

  auto summary = run();
  EXPECT_EQ(summary.records_rechecked, 4u) << summary.error;
  EXPECT_EQ(summary.records_resettled, 2u);
  EXPECT_EQ(production(1), original);
  EXPECT_EQ(env_->path_of(ids[1]), production_key(1));
  EXPECT_EQ(env_->path_of(ids[2]), legacy_key(2));  // its twin is not rehome's copy any more
  EXPECT_EQ(production(2), "another writer's object");
  EXPECT_EQ(summary.objects_conflict, 1u);
  EXPECT_EQ(env_->path_of(ids[0]), production_key(0));
  auto audit = verify();  // every row names an object that exists; the conflict is listed
  EXPECT_EQ(audit.rows_dangling, 0u);
  EXPECT_EQ(audit.objects_conflict, 1u);

  // A run right after finds every record its own or checked: nothing to settle again.
  auto again = run();
  EXPECT_EQ(again.records_resettled, 0u);
}

// Issue 17, section 7: an application that keeps inserting legacy rows is not chased forever.
// A trigger stands in for it: every rewrite statement inserts one more legacy row. The rows
// phase stops at the highest id it saw when it began, says what it left, and the next run
// (once the inserts stop) rewrites those rows.
TEST_F(Application,
       the_rows_phase_stops_at_the_rows_it_saw_and_leaves_later_inserts_to_the_next_run) {
  auto ids = env_->seed_legacy(6);
  auto config = env_->config();
  config.row_range = 2;
  config.row_connections = 1;
  engine::StateStore state(env_->db(), config.state_schema, engine::job_name(config));
  ASSERT_TRUE(state.ensure_schema());
  env_->sql(
      "CREATE FUNCTION public.app_inserts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "INSERT INTO public.avatars (path) VALUES ('image/avatar-0.png'); RETURN NULL; END $$");
  env_->sql(
      "CREATE TRIGGER app_inserts AFTER INSERT ON rehome.rewrites FOR EACH STATEMENT "
      "EXECUTE FUNCTION public.app_inserts()");

  auto summary = engine::run(config, {});
  EXPECT_EQ(summary.outcome, Outcome::kIncomplete) << summary.error;
  EXPECT_EQ(summary.rows_rewritten, 6u);
  EXPECT_GT(summary.rows_pending, 0u);
  EXPECT_LE(summary.rows_pending, 4u);  // one per rewrite statement: the phase did not chase
  bool said = false;
  for (const auto& p : summary.problems)
    said |= p.find("added after the rows phase began") != std::string::npos;
  EXPECT_TRUE(said);
  auto bound = env_->sql("SELECT rows_bound FROM rehome.jobs");
  EXPECT_EQ(bound.int64(0, 0), ids.back());

  env_->sql("DROP TRIGGER app_inserts ON rehome.rewrites");
  auto next = engine::run(config, {});
  EXPECT_EQ(next.outcome, Outcome::kComplete) << next.error;
  EXPECT_EQ(next.rows_rewritten, summary.rows_pending);
}

// Bookkeeping an earlier version created (without the columns this one added) gains them on
// the next run, and the job goes on.
TEST_F(Application, bookkeeping_from_an_earlier_version_gains_the_new_columns) {
  env_->seed_legacy(2);
  auto config = env_->config();
  engine::StateStore state(env_->db(), config.state_schema, engine::job_name(config));
  ASSERT_TRUE(state.ensure_schema());
  env_->sql("ALTER TABLE rehome.objects DROP COLUMN copied_from, DROP COLUMN copied_etag");
  env_->sql("ALTER TABLE rehome.jobs DROP COLUMN rows_bound, DROP COLUMN rows_bound_at");
  auto summary = run();
  EXPECT_EQ(summary.outcome, Outcome::kComplete) << summary.error;
  EXPECT_EQ(env_->sql("SELECT count(*) FROM rehome.objects WHERE copied_etag <> ''").int64(0, 0),
            2);
}

// Issue 17, section 6: the grace period counts the legacy object's own last write, not only
// rehome's rewrite. An application still writing legacy paths (here: the same avatar again,
// identical bytes, so the record still matches) holds its object back from cleanup.
TEST_F(Application, cleanup_counts_the_objects_own_last_write_in_the_grace_period) {
  env_->seed_legacy(2);
  ASSERT_EQ(run().outcome, Outcome::kComplete);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const auto same = legacy(0);
  env_->put(env_->legacy_bucket(), legacy_key(0), *same);
  auto early = engine::cleanup(env_->config(), {std::chrono::seconds(2), false}, {});
  ASSERT_EQ(early.outcome, Outcome::kComplete) << early.error;
  EXPECT_EQ(early.objects_deleted, 1u);
  EXPECT_EQ(legacy(0), same);
  EXPECT_FALSE(legacy(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(engine::cleanup(env_->config(), {std::chrono::seconds(2), false}, {}).objects_deleted,
            1u);
}

// Cleanup says what a delete reclaims: on a versioned legacy bucket, nothing until a lifecycle
// rule expires the old versions; on an unversioned one, the object is gone for good.
TEST_F(Application, cleanup_says_whether_the_legacy_bucket_keeps_old_versions) {
  env_->seed_legacy(1);
  ASSERT_EQ(run().outcome, Outcome::kComplete);
  auto said = [](const engine::Summary& s, const std::string& text) {
    for (const auto& p : s.problems) {
      if (p.find(text) != std::string::npos) return true;
    }
    return false;
  };
  auto plain = engine::cleanup(env_->config(), {std::chrono::seconds(0), true}, {});
  EXPECT_TRUE(said(plain, "is not versioned")) << ::testing::PrintToString(plain.problems);
  env_->python(fmt::format(
      "print(s3.request('PUT', '{}', query={{'versioning': ''}}, body=b'<VersioningConfiguration "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status>"
      "</VersioningConfiguration>')[0])",
      env_->legacy_bucket()));
  auto versioned = cleanup();
  EXPECT_EQ(versioned.objects_deleted, 1u);
  EXPECT_TRUE(said(versioned, "versioning enabled: each delete adds a delete marker"))
      << ::testing::PrintToString(versioned.problems);
}

}  // namespace
}  // namespace rehome::testing
