// docs/PRIVILEGES.md, tested: each command runs, as the real binary, under a PostgreSQL role
// that holds exactly the documented grants (PUBLIC's defaults revoked first, so nothing else
// helps), and a role missing one of them fails with an error that says what to grant.
//
// The grant SQL lives in one place below, as statements with the doc's names in placeholders.
// The first test checks that every statement, with the doc's names, is in the doc word for word.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "fixture.h"
#include "migration_env.h"

namespace rehome::testing {
namespace {

using Statements = std::span<const std::string_view>;

// Placeholders: {app} the database, {rehome} the role for every command, {rehome_readonly} the
// read-only role. The bookkeeping schema keeps its literal name, rehome.
constexpr auto kRehomeRole = std::to_array<std::string_view>({
    "CREATE ROLE {rehome} LOGIN;",
    "GRANT CONNECT, TEMPORARY ON DATABASE {app} TO {rehome};",
    "GRANT USAGE ON SCHEMA public TO {rehome};",
    "GRANT SELECT (id, path), UPDATE (path) ON public.avatars TO {rehome};",
});
constexpr auto kSchemaOption1 = std::to_array<std::string_view>({
    "GRANT CREATE ON DATABASE {app} TO {rehome};",
});
constexpr auto kSchemaOption2 = std::to_array<std::string_view>({
    "CREATE SCHEMA rehome AUTHORIZATION {rehome};",
});
constexpr auto kAfterLastRun = std::to_array<std::string_view>({
    "REVOKE CREATE ON DATABASE {app} FROM {rehome};",
});
constexpr auto kReadonlyRole = std::to_array<std::string_view>({
    "CREATE ROLE {rehome_readonly} LOGIN;",
    "GRANT CONNECT, TEMPORARY ON DATABASE {app} TO {rehome_readonly};",
    "GRANT USAGE ON SCHEMA public TO {rehome_readonly};",
    "GRANT SELECT (id, path) ON public.avatars TO {rehome_readonly};",
});

struct Names {
  std::string app, rehome, rehome_readonly;
};

std::string render(std::string_view statement, const Names& names) {
  return fmt::format(fmt::runtime(statement), fmt::arg("app", names.app),
                     fmt::arg("rehome", names.rehome),
                     fmt::arg("rehome_readonly", names.rehome_readonly));
}

/// `conninfo` connecting as `role` instead: the user part of a postgresql:// URI replaced (trust
/// authentication, so no password), or a trailing ` user=` in a key=value string (the last wins).
std::string conninfo_as(const std::string& conninfo, const std::string& role) {
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (!conninfo.starts_with(scheme)) continue;
    const std::size_t host = scheme.size();
    const std::size_t end = conninfo.find_first_of("/?", host);
    const std::size_t at = conninfo.rfind('@', end == std::string::npos ? conninfo.size() : end);
    const std::size_t rest = at == std::string::npos || at < host ? host : at + 1;
    return std::string(scheme) + role + "@" + conninfo.substr(rest);
  }
  return conninfo + " user=" + role;
}

std::string read_doc() {
  std::ifstream in(std::string(REHOME_SOURCE_DIR) + "/docs/PRIVILEGES.md");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(PrivilegesDoc, the_tested_grants_are_the_documented_ones) {
  const std::string doc = read_doc();
  ASSERT_FALSE(doc.empty()) << "docs/PRIVILEGES.md is missing";
  const Names doc_names{"app", "rehome", "rehome_readonly"};
  const Statements groups[] = {kRehomeRole, kSchemaOption1, kSchemaOption2, kAfterLastRun,
                               kReadonlyRole};
  for (Statements group : groups) {
    for (std::string_view statement : group) {
      const std::string documented = render(statement, doc_names);
      EXPECT_NE(doc.find(documented), std::string::npos)
          << "not in docs/PRIVILEGES.md: " << documented;
    }
  }
}

class Privileges : public ::testing::Test {
 protected:
  void SetUp() override {
    REHOME_REQUIRE_PG();
    REHOME_REQUIRE_RGW();
    env_ = std::make_unique<MigrationEnv>();
    // Roles are cluster-wide: unique names keep concurrent runs apart.
    std::string suffix = unique_suffix();
    std::replace(suffix.begin(), suffix.end(), '-', '_');
    names_ = {env_->database().name(), "rehome_" + suffix, "rehome_ro_" + suffix};
    // Take away what PostgreSQL gives everyone, so only the documented grants count.
    env_->sql(fmt::format("REVOKE ALL ON DATABASE {} FROM PUBLIC", names_.app));
    env_->sql("REVOKE ALL ON SCHEMA public FROM PUBLIC");
  }

  void TearDown() override {
    if (!env_) return;
    for (const std::string* role : {&names_.rehome, &names_.rehome_readonly}) {
      if (env_->sql("SELECT count(*) FROM pg_roles WHERE rolname = $1", {*role}).int64(0, 0) == 0) {
        continue;
      }
      // Removes its schema and its grants here (the database itself is dropped afterwards).
      env_->sql("DROP OWNED BY " + *role);
      env_->sql("DROP ROLE " + *role);
    }
  }

  void grant(Statements statements) {
    for (std::string_view statement : statements) env_->sql(render(statement, names_));
  }

  /// The binary's environment, connecting to PostgreSQL as `role`.
  std::vector<std::string> env_as(const std::string& role) {
    auto env = env_->binary_env();
    for (auto& entry : env) {
      if (entry.starts_with("DATABASE_URL=")) {
        entry = "DATABASE_URL=" + conninfo_as(env_->database().conninfo(), role);
      }
    }
    return env;
  }

  int rehome_as(const std::string& role, std::vector<std::string> args, std::string* out) {
    args.push_back("--progress");
    args.push_back("none");
    return run_rehome(args, env_as(role), out);
  }

  void expect_all_rewritten(const std::vector<std::int64_t>& ids) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(env_->path_of(ids[i]), fmt::format("avatar/avatar-{}.png", i));
    }
  }

  std::unique_ptr<MigrationEnv> env_;
  Names names_;
};

TEST_F(Privileges, plan_run_and_verify_succeed_with_the_documented_grants_and_option_2) {
  auto ids = env_->seed_legacy(5);
  grant(kRehomeRole);
  grant(kSchemaOption2);
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"plan"}, &out), 0) << out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 0) << out;
  EXPECT_NE(out.find("5 rewritten"), std::string::npos) << out;
  expect_all_rewritten(ids);
  ASSERT_EQ(rehome_as(names_.rehome, {"verify"}, &out), 0) << out;
}

TEST_F(Privileges, run_creates_the_bookkeeping_schema_itself_with_option_1) {
  auto ids = env_->seed_legacy(3);
  grant(kRehomeRole);
  grant(kSchemaOption1);
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 0) << out;
  expect_all_rewritten(ids);
  EXPECT_EQ(env_->sql("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'rehome'")
                .text(0, 0),
            names_.rehome);
}

TEST_F(Privileges, cleanup_plan_and_verify_need_no_create_on_the_database) {
  env_->seed_legacy(3);
  grant(kRehomeRole);
  grant(kSchemaOption2);
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 0) << out;
  grant(kAfterLastRun);
  ASSERT_EQ(rehome_as(names_.rehome, {"plan"}, &out), 0) << out;
  ASSERT_EQ(rehome_as(names_.rehome, {"verify"}, &out), 0) << out;
  ASSERT_EQ(rehome_as(names_.rehome, {"cleanup", "--grace", "0"}, &out), 0) << out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(env_->get(env_->legacy_bucket(), fmt::format("image/avatar-{}.png", i)));
  }
}

// CREATE SCHEMA IF NOT EXISTS would check CREATE on the database even when the schema exists:
// rehome skips it for a pre-created schema.
TEST_F(Privileges, run_needs_no_create_on_the_database_when_the_schema_exists) {
  auto ids = env_->seed_legacy(3);
  grant(kRehomeRole);
  grant(kSchemaOption2);
  grant(kAfterLastRun);
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 0) << out;
  expect_all_rewritten(ids);
}

TEST_F(Privileges, run_without_update_on_the_table_fails_naming_the_table_and_the_doc) {
  auto ids = env_->seed_legacy(3);
  grant(kRehomeRole);
  grant(kSchemaOption2);
  env_->sql(fmt::format("REVOKE UPDATE (path) ON public.avatars FROM {}", names_.rehome));
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 1) << out;
  EXPECT_NE(out.find("rehome: error: "), std::string::npos) << out;
  EXPECT_NE(out.find("may not UPDATE column path of table avatars"), std::string::npos) << out;
  EXPECT_NE(out.find("docs/PRIVILEGES.md"), std::string::npos) << out;
  EXPECT_EQ(env_->path_of(ids[0]), "image/avatar-0.png");
  // Refused up front: nothing was copied either.
  EXPECT_FALSE(env_->get(env_->production_bucket(), "avatar/avatar-0.png"));
}

TEST_F(Privileges, after_granting_update_a_rerun_does_the_job) {
  auto ids = env_->seed_legacy(3);
  grant(kRehomeRole);
  grant(kSchemaOption2);
  env_->sql(fmt::format("REVOKE UPDATE (path) ON public.avatars FROM {}", names_.rehome));
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 1) << out;
  env_->sql(fmt::format("GRANT UPDATE (path) ON public.avatars TO {}", names_.rehome));
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 0) << out;
  expect_all_rewritten(ids);
}

TEST_F(Privileges, readonly_role_runs_plan_and_verify) {
  env_->seed_legacy(3);
  grant(kReadonlyRole);
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome_readonly, {"plan"}, &out), 0) << out;
  // Nothing is migrated yet, and every legacy row names an existing object: verify is clean.
  ASSERT_EQ(rehome_as(names_.rehome_readonly, {"verify"}, &out), 0) << out;
}

TEST_F(Privileges, readonly_role_runs_plan_and_verify_after_a_run_made_the_state_schema) {
  auto ids = env_->seed_legacy(4);
  grant(kRehomeRole);
  grant(kSchemaOption2);
  grant(kReadonlyRole);
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 0) << out;
  // The read-only role has no access to rehome's records: it still gets its answers, from the
  // listings alone, and is told what the records would add.
  ASSERT_EQ(rehome_as(names_.rehome_readonly, {"verify"}, &out), 0) << out;
  EXPECT_NE(out.find("cannot read rehome's records"), std::string::npos) << out;
  ASSERT_EQ(rehome_as(names_.rehome_readonly, {"plan"}, &out), 0) << out;
}

// Issue 17, section 5: a role the table's row-level security applies to would see some rows
// only, call the job done, and let cleanup delete what hidden rows still name.
TEST_F(Privileges, a_table_whose_row_security_applies_to_the_role_is_refused_before_any_work) {
  auto ids = env_->seed_legacy(6);
  grant(kRehomeRole);
  grant(kSchemaOption2);
  env_->sql("ALTER TABLE avatars ENABLE ROW LEVEL SECURITY");
  env_->sql(
      fmt::format("CREATE POLICY some_rows ON avatars TO {} USING (id % 2 = 0)", names_.rehome));
  for (const char* command : {"run", "plan", "verify", "cleanup"}) {
    std::string out;
    ASSERT_EQ(rehome_as(names_.rehome, {command}, &out), 1) << command << "\n" << out;
    EXPECT_NE(out.find("row-level security"), std::string::npos) << out;
    EXPECT_NE(out.find("BYPASSRLS"), std::string::npos) << out;
  }
  EXPECT_EQ(env_->sql("SELECT count(*) FROM avatars WHERE path LIKE 'avatar/%'").int64(0, 0), 0);
  EXPECT_EQ(env_->get(env_->production_bucket(), "avatar/avatar-0.png"), std::nullopt);
  // With BYPASSRLS the same role does the whole job.
  env_->sql(fmt::format("ALTER ROLE {} BYPASSRLS", names_.rehome));
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome, {"run"}, &out), 0) << out;
  expect_all_rewritten(ids);
}

TEST_F(Privileges, readonly_role_cannot_run_and_is_told_what_to_grant) {
  auto ids = env_->seed_legacy(2);
  grant(kReadonlyRole);
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome_readonly, {"run"}, &out), 1) << out;
  EXPECT_NE(out.find("may not UPDATE column path of table avatars"), std::string::npos) << out;
  EXPECT_NE(out.find("docs/PRIVILEGES.md"), std::string::npos) << out;
  // It stopped before any work: nothing copied, nothing rewritten.
  EXPECT_FALSE(env_->get(env_->production_bucket(), "avatar/avatar-0.png"));
  EXPECT_EQ(env_->path_of(ids[0]), "image/avatar-0.png");
}

TEST_F(Privileges, plan_without_temporary_fails_naming_the_privilege) {
  env_->seed_legacy(1);
  grant(kReadonlyRole);
  env_->sql(
      fmt::format("REVOKE TEMPORARY ON DATABASE {} FROM {}", names_.app, names_.rehome_readonly));
  std::string out;
  ASSERT_EQ(rehome_as(names_.rehome_readonly, {"plan"}, &out), 1) << out;
  EXPECT_NE(out.find("permission denied to create temporary tables"), std::string::npos) << out;
  EXPECT_NE(out.find("docs/PRIVILEGES.md"), std::string::npos) << out;
}

}  // namespace
}  // namespace rehome::testing
