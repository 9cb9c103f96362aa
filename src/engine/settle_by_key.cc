#include "engine/settle_by_key.h"

namespace rehome::engine {

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
