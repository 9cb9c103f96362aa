#include "engine/context.h"

#include <fmt/format.h>

namespace rehome::engine {

void count_outcome(Summary& summary, const CopyOutcome& outcome) {
  const auto& rec = outcome.record;
  switch (outcome.kind) {
    case CopyOutcome::Kind::kCopied:
      ++summary.objects_copied;
      summary.bytes_copied += outcome.bytes_copied;
      break;
    case CopyOutcome::Kind::kAlreadyCopied: ++summary.objects_already_copied; break;
    case CopyOutcome::Kind::kConflict:
      ++summary.objects_conflict;
      summary.note_problem(fmt::format("conflict: {}", rec.detail));
      break;
    case CopyOutcome::Kind::kSourceMissing: ++summary.objects_missing; break;
    case CopyOutcome::Kind::kFailed:
      ++summary.objects_failed;
      summary.note_problem(fmt::format("failed: {}: {}", rec.legacy_key, rec.detail));
      break;
  }
}

}  // namespace rehome::engine
