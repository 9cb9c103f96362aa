// RowSync's decisions about the legacy rows a range's rewrite left behind (judge_pending), as a
// table: which objects get a fresh look, and how what remains is reported.
#include "engine/row_sync.h"

#include <gtest/gtest.h>

namespace rehome::engine {
namespace {

PendingRow row(std::int64_t id, std::string path, std::optional<ObjectState> state,
               bool this_run = false) {
  return PendingRow{id, std::move(path), state, this_run};
}

TEST(JudgePending, objects_rehome_has_not_seen_get_a_look_in_the_first_round) {
  auto v = judge_pending({row(1, "image/b.png", std::nullopt), row(2, "image/a.png", std::nullopt),
                          row(3, "image/b.png", std::nullopt)},
                         0);
  EXPECT_EQ(v.to_settle, (std::vector<std::string>{"image/a.png", "image/b.png"}));
  EXPECT_EQ(v.conflict + v.broken + v.failed, 0u) << "nothing is counted before the look";
}

TEST(JudgePending, earlier_runs_missing_or_failed_records_get_a_fresh_look) {
  auto v = judge_pending({row(1, "image/m.png", ObjectState::kMissing, false),
                          row(2, "image/f.png", ObjectState::kFailed, false),
                          row(3, "image/m2.png", ObjectState::kMissing, true),
                          row(4, "image/c.png", ObjectState::kConflict, false)},
                         0);
  EXPECT_EQ(v.to_settle, (std::vector<std::string>{"image/f.png", "image/m.png"}));
}

TEST(JudgePending, what_this_run_already_judged_is_counted_at_once) {
  auto v = judge_pending({row(1, "image/m.png", ObjectState::kMissing, true),
                          row(2, "image/f.png", ObjectState::kFailed, true),
                          row(3, "image/c.png", ObjectState::kConflict, false),
                          row(4, "image/k.png", ObjectState::kCopied, true)},
                         0);
  EXPECT_TRUE(v.to_settle.empty());
  EXPECT_EQ(v.conflict, 1u);
  EXPECT_EQ(v.broken, 1u);
  EXPECT_EQ(v.failed, 2u)
      << "a failed object, and a copied one whose row changed under the rewrite";
  ASSERT_EQ(v.broken_rows.size(), 1u);
  EXPECT_EQ(v.broken_rows[0].id, 1);
}

TEST(JudgePending, the_second_round_reports_and_never_looks_again) {
  auto v = judge_pending(
      {row(1, "image/u.png", std::nullopt), row(2, "image/m.png", ObjectState::kMissing, false),
       row(3, "image/c.png", ObjectState::kConflict)},
      1);
  EXPECT_TRUE(v.to_settle.empty());
  EXPECT_EQ(v.failed, 1u) << "still no record after the look: the object could not be settled";
  EXPECT_EQ(v.broken, 1u);
  EXPECT_EQ(v.conflict, 1u);
}

TEST(JudgePending, no_rows_means_nothing_to_do) {
  auto v = judge_pending({}, 0);
  EXPECT_TRUE(v.to_settle.empty());
  EXPECT_EQ(v.conflict + v.broken + v.failed, 0u);
}

TEST(RowErrors, one_rows_new_value_is_a_row_error_and_a_lost_connection_is_not) {
  for (const char* code : {"22001", "22003", "23505", "23514", "23502", "P0001"}) {
    EXPECT_TRUE(is_row_error(Error::of(ErrorKind::kPermanent, "x", code))) << code;
  }
  for (const char* code : {"08006", "57014", "55P03", "42501", "40001", ""}) {
    EXPECT_FALSE(is_row_error(Error::of(ErrorKind::kPermanent, "x", code))) << code;
  }
}

}  // namespace
}  // namespace rehome::engine
