#include "engine/exit_status.h"

#include <gtest/gtest.h>

namespace rehome::engine {
namespace {

Summary summary_of(Command command, Outcome outcome, std::uint64_t dangling = 0) {
  Summary s;
  s.command = command;
  s.outcome = outcome;
  s.rows_dangling = dangling;
  return s;
}

TEST(ExitStatus, every_command_and_outcome_maps_to_the_documented_status) {
  struct Case {
    Command command;
    Outcome outcome;
    std::uint64_t dangling;
    int status;
  };
  const Case cases[] = {
      {Command::kRun, Outcome::kComplete, 0, kExitOk},
      {Command::kRun, Outcome::kIncomplete, 0, kExitIncomplete},
      {Command::kRun, Outcome::kFailed, 0, kExitFailed},
      {Command::kRun, Outcome::kInterrupted, 0, kExitInterrupted},
      {Command::kRun, Outcome::kRunning, 0, kExitFailed},  // Never left so; a bug fails.
      {Command::kPlan, Outcome::kComplete, 0, kExitOk},
      {Command::kPlan, Outcome::kFailed, 0, kExitFailed},
      {Command::kVerify, Outcome::kComplete, 0, kExitOk},
      {Command::kVerify, Outcome::kIncomplete, 3, kExitDangling},
      {Command::kVerify, Outcome::kIncomplete, 0, kExitIncomplete},
      {Command::kVerify, Outcome::kFailed, 3, kExitFailed},  // Failure wins over findings.
      {Command::kVerify, Outcome::kInterrupted, 3, kExitInterrupted},
      {Command::kRun, Outcome::kIncomplete, 3, kExitIncomplete},  // Dangling is verify's.
      {Command::kCleanup, Outcome::kComplete, 0, kExitOk},
      {Command::kCleanup, Outcome::kInterrupted, 0, kExitInterrupted},
      {Command::kCleanup, Outcome::kFailed, 0, kExitFailed},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(exit_status(summary_of(c.command, c.outcome, c.dangling)), c.status)
        << to_string(c.command) << " " << c.outcome << " dangling " << c.dangling;
  }
}

TEST(ExitStatus, the_documented_numbers_do_not_change) {
  // README.md and every script that checks rehome's status rely on these.
  EXPECT_EQ(kExitOk, 0);
  EXPECT_EQ(kExitFailed, 1);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitIncomplete, 3);
  EXPECT_EQ(kExitDangling, 4);
  EXPECT_EQ(kExitInterrupted, 130);
}

TEST(RunOutcome, complete_only_with_nothing_pending_failed_or_conflicting) {
  struct Case {
    std::uint64_t pending, failed, conflict;
    bool stop;
    Outcome outcome;
  };
  const Case cases[] = {
      {0, 0, 0, false, Outcome::kComplete},   {1, 0, 0, false, Outcome::kIncomplete},
      {0, 1, 0, false, Outcome::kIncomplete}, {0, 0, 1, false, Outcome::kIncomplete},
      {0, 0, 0, true, Outcome::kInterrupted}, {5, 5, 5, true, Outcome::kInterrupted},
  };
  for (const auto& c : cases) {
    Summary s;
    s.rows_pending = c.pending;
    s.objects_failed = c.failed;
    s.objects_conflict = c.conflict;
    EXPECT_EQ(run_outcome(s, c.stop), c.outcome)
        << c.pending << " pending, " << c.failed << " failed, " << c.conflict << " conflict";
  }
}

TEST(Summary, outcome_and_command_are_named_in_the_report) {
  Summary s = summary_of(Command::kCleanup, Outcome::kInterrupted);
  auto json = s.to_json();
  EXPECT_EQ(json["command"], "cleanup");
  EXPECT_EQ(json["outcome"], "interrupted");
}

}  // namespace
}  // namespace rehome::engine
