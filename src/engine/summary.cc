#include "engine/summary.h"

namespace rehome::engine {

namespace {
constexpr std::size_t kMaxProblems = 50;
}

const char* to_string(Command command) noexcept {
  switch (command) {
    case Command::kRun: return "run";
    case Command::kPlan: return "plan";
    case Command::kVerify: return "verify";
    case Command::kCleanup: return "cleanup";
  }
  return "unknown";
}

const char* to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::kRunning: return "running";
    case Outcome::kComplete: return "complete";
    case Outcome::kIncomplete: return "incomplete";
    case Outcome::kInterrupted: return "interrupted";
    case Outcome::kFailed: return "failed";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, Outcome outcome) { return out << to_string(outcome); }

void Summary::note_problem(std::string line) {
  if (problems.size() < kMaxProblems) problems.push_back(std::move(line));
}

nlohmann::json Summary::to_json() const {
  return {
      {"command", to_string(command)},
      {"outcome", to_string(outcome)},
      {"error", error},
      {"seconds", seconds},
      {"phases", {{"objects_seconds", objects_seconds}, {"rows_seconds", rows_seconds}}},
      {"worker",
       {{"id", worker_id},
        {"round", round},
        {"ranges_lost", ranges_lost},
        {"job_objects_conflict", job_objects_conflict},
        {"job_objects_failed", job_objects_failed}}},
      {"objects",
       {{"listed", objects_listed},
        {"copied", objects_copied},
        {"already_copied", objects_already_copied},
        {"conflict", objects_conflict},
        {"missing", objects_missing},
        {"failed", objects_failed},
        {"refreshed", objects_refreshed},
        {"stale", objects_stale},
        {"ranges_split", ranges_split},
        {"uploads_aborted", uploads_aborted},
        {"uploads_unnamed", uploads_unnamed},
        {"uploads_failed", uploads_failed},
        {"records_rechecked", records_rechecked},
        {"records_resettled", records_resettled},
        {"bytes_copied", bytes_copied},
        {"to_copy", objects_to_copy},
        {"unreferenced", objects_unreferenced},
        {"legacy_present", legacy_objects_present},
        {"deleted", objects_deleted},
        {"kept", objects_kept}}},
      {"rows",
       {{"rewritten", rows_rewritten},
        {"pending", rows_pending},
        {"conflict", rows_conflict},
        {"broken", rows_broken},
        {"failed", rows_failed},
        {"production", rows_production},
        {"null", rows_null},
        {"empty", rows_empty},
        {"other", rows_other},
        {"dangling", rows_dangling}}},
      {"requests",
       {{"sent", requests},
        {"retries", retries},
        {"throttled", throttled},
        {"connections", connections},
        {"peak_in_flight", peak_in_flight}}},
      {"problems", problems},
  };
}

}  // namespace rehome::engine
