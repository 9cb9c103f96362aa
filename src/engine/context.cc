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

Status settle_and_record(Context& ctx, const std::vector<std::string>& keys) {
  std::vector<ObjectRecord> records;
  std::optional<Error> fatal;
  std::size_t waiting = keys.size();
  for (const auto& key : keys) {
    ctx.copier.settle_key(key, [&](CopyOutcome out) {
      --waiting;
      count_outcome(ctx.summary, out);
      if (out.fatal && !fatal) fatal = out.fatal;
      // A vanished object keeps its "missing" record so the row phase can report references.
      records.push_back(std::move(out.record));
    });
  }
  while (waiting > 0) ctx.loop.run();
  if (fatal) return *fatal;
  // An upsert of the same values: replaying it after an in-doubt commit is harmless.
  return ctx.state.record(records);
}

}  // namespace rehome::engine
