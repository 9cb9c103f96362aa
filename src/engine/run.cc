// `rehome run`: the phases in the order the promise needs them.
//   1. objects: every legacy object gets a verified twin in production (recorded); copies
//      earlier runs recorded are checked against production's listing (record_check.h);
//   2. rows: rows flip to the production path, only where a verified twin is recorded, and
//      only if they still hold the legacy path;
//   3. count: what remains, and why.
// Nothing is deleted: removing legacy objects is `cleanup`'s job, after a grace period.
#include <fmt/format.h>

#include "engine/commands.h"
#include "engine/copier.h"
#include "engine/leftover_uploads.h"
#include "engine/object_sync.h"
#include "engine/progress.h"
#include "engine/record_check.h"
#include "engine/row_store.h"
#include "engine/row_sync.h"
#include "engine/services.h"
#include "engine/state_store.h"
#include "pg/retry.h"
#include "util/failpoint.h"

namespace rehome::engine {

namespace {

Summary failed(Summary summary, const Error& error) {
  summary.outcome = Outcome::kFailed;
  summary.error = error.message;
  return summary;
}

}  // namespace

Summary run(const JobConfig& config, const CommandHooks& hooks) {
  const auto started = std::chrono::steady_clock::now();
  Summary summary;
  summary.command = Command::kRun;
  auto finish = [&](Summary s) {
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return s;
  };

  // Set-up: every check that can fail fast does, before any work.
  auto db = connect_database(config);
  if (!db) return finish(failed(summary, db.error()));
  StateStore state(*db, config.state_schema, job_name(config));
  RowStore rows(*db, config, state);
  if (auto st = rows.check_table(); !st) return finish(failed(summary, st.error()));
  if (auto st = rows.check_can_rewrite(); !st) return finish(failed(summary, st.error()));
  if (auto st = state.ensure_schema(); !st) return finish(failed(summary, st.error()));
  if (auto st = state.lock_job(); !st) return finish(failed(summary, st.error()));
  S3Services s3(config);
  if (auto st = s3.check_access(config); !st) return finish(failed(summary, st.error()));
  auto run_started = rows.server_now();
  if (!run_started) return finish(failed(summary, run_started.error()));
  if (auto counts = rows.count_paths(); counts) summary.rows_total_legacy = counts->legacy;

  PgJobState job_state(state, config);
  // Uploads a killed run left open are aborted before any new one starts.
  if (auto leftover = abort_leftover_uploads(
          s3.loop, s3.production, config.production.client.endpoint.url, job_state, summary);
      !leftover) {
    return finish(failed(summary, leftover.error()));
  }
  Copier copier(
      s3.legacy, s3.production, config, server_side_copy_possible(config),
      [&job_state](const std::string& key) { return job_state.recorded_copy(key); }, &job_state);
  Progress progress(hooks.progress_out, hooks.progress_terminal, summary,
                    [&] { s3.count_requests(summary); });
  Context ctx{config,
              s3.loop,
              s3.legacy,
              s3.production,
              copier,
              job_state,
              summary,
              hooks.stop_requested,
              [&](const char* phase) { progress.report(phase); },
              [&s3, server_side = server_side_copy_possible(config)] {
                return s3.request_slots(server_side);
              }};

  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  // Phase 1: objects.
  const auto objects_started = Clock::now();
  ObjectSync objects(ctx);
  Status objects_done = objects.run();
  summary.objects_seconds = seconds_since(objects_started);
  if (auto st = objects_done; !st) {
    progress.finish();
    s3.count_requests(summary);
    return finish(failed(summary, st.error()));
  }
  failpoint("between-copy-and-rewrite");
  // Records an earlier run made are not trusted blindly: production's listing must still hold
  // each copy before rows are rewritten to it.
  if (!hooks.stop_requested()) {
    auto checked = check_earlier_records(ctx, *run_started, [&](const auto& keys) {
      return pg::retry_db_value<std::vector<std::string>>(
          *db, [&] { return rows.legacy_keys_named(keys); });
    });
    if (!checked) {
      progress.finish();
      s3.count_requests(summary);
      return finish(failed(summary, checked.error()));
    }
    summary.records_rechecked = checked->checked;
    summary.records_resettled = checked->resettled;
  }
  // Phase 2: rows.
  if (!hooks.stop_requested()) {
    const auto rows_started = Clock::now();
    RowSync row_sync(ctx, rows, state);
    Status rows_done = row_sync.run(*run_started);
    summary.rows_seconds = seconds_since(rows_started);
    if (auto st = rows_done; !st) {
      progress.finish();
      s3.count_requests(summary);
      return finish(failed(summary, st.error()));
    }
  }
  progress.finish();
  s3.count_requests(summary);

  // Phase 3: what is left, counted from the table itself. A lost connection or a DBA's
  // statement_timeout is retried like every other statement of the run.
  if (auto counts = pg::retry_db_value<PathCounts>(*db, [&] { return rows.count_paths(); });
      counts) {
    summary.rows_pending = counts->legacy;
    summary.rows_production = counts->production;
    summary.rows_null = counts->null;
    summary.rows_empty = counts->empty;
    summary.rows_other = counts->other;
  } else {
    return finish(failed(summary, counts.error()));
  }
  summary.outcome = run_outcome(summary, hooks.stop_requested());
  return finish(summary);
}

}  // namespace rehome::engine
