#include "engine/exit_status.h"

namespace rehome::engine {

int exit_status(const Summary& summary) {
  switch (summary.outcome) {
    case Outcome::kFailed: return summary.refused ? kExitUsage : kExitFailed;
    case Outcome::kInterrupted: return kExitInterrupted;
    case Outcome::kRunning:  // A summary never leaves a command unfinished: a bug, so fail.
      return kExitFailed;
    case Outcome::kComplete:
    case Outcome::kIncomplete: break;
  }
  if (summary.command == Command::kVerify && summary.rows_dangling > 0) return kExitDangling;
  return summary.outcome == Outcome::kIncomplete ? kExitIncomplete : kExitOk;
}

Outcome run_outcome(const Summary& summary, bool stop_requested) {
  if (stop_requested) return Outcome::kInterrupted;
  // The job's own problems count, not only this worker's: a worker exits with the job's status.
  if (summary.rows_pending == 0 && summary.objects_failed == 0 && summary.objects_conflict == 0 &&
      summary.job_objects_failed == 0 && summary.job_objects_conflict == 0 &&
      summary.uploads_failed == 0) {
    return Outcome::kComplete;
  }
  return Outcome::kIncomplete;
}

}  // namespace rehome::engine
