#include "engine/summary.h"

namespace rehome::engine {

namespace {
constexpr std::size_t kMaxProblems = 50;
}

void Summary::note_problem(std::string line) {
  if (problems.size() < kMaxProblems) problems.push_back(std::move(line));
}

nlohmann::json Summary::to_json() const {
  return {
      {"command", command},
      {"outcome", outcome},
      {"error", error},
      {"seconds", seconds},
      {"phases", {{"objects_seconds", objects_seconds}, {"rows_seconds", rows_seconds}}},
      {"objects",
       {{"listed", objects_listed},
        {"copied", objects_copied},
        {"already_copied", objects_already_copied},
        {"conflict", objects_conflict},
        {"missing", objects_missing},
        {"failed", objects_failed},
        {"ranges_split", ranges_split},
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
      {"requests", {{"sent", requests}, {"retries", retries}, {"throttled", throttled}}},
      {"problems", problems},
  };
}

}  // namespace rehome::engine
