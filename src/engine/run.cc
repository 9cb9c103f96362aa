// `rehome run`: one worker of the job (any number share it: claim_store.h), through the phases
// in the order the promise needs them, each shared with the other workers and waited for.
//   1. objects: every legacy object gets a verified twin in production (recorded); copies
//      earlier runs recorded are checked against production's listing (record_check.h);
//   2. rows: rows flip to the production path, only where a verified twin is recorded, and
//      only if they still hold the legacy path;
//   3. count: what remains, and why.
// Nothing is deleted: removing legacy objects is `cleanup`'s job, after a grace period.
#include <fmt/format.h>

#include <functional>
#include <optional>
#include <thread>

#include "engine/claim_store.h"
#include "engine/commands.h"
#include "engine/copier.h"
#include "engine/leftover_uploads.h"
#include "engine/membership.h"
#include "engine/metrics_feed.h"
#include "engine/object_sync.h"
#include "engine/progress.h"
#include "engine/record_check.h"
#include "engine/row_store.h"
#include "engine/row_sync.h"
#include "engine/services.h"
#include "engine/state_store.h"
#include "pg/retry.h"
#include "util/failpoint.h"
#include "util/version.h"

namespace rehome::engine {

namespace {

Summary failed(Summary summary, const Error& error) {
  summary.outcome = Outcome::kFailed;
  summary.error = error.message;
  return summary;
}

}  // namespace

// The round's one-off task `kind`: done here when no live worker holds it; with `wait`, waited
// for otherwise (and taken over if its worker goes) until complete or a stop is requested.
Status do_or_wait(ClaimStore& claims, Membership& membership, const Round& round, ClaimKind kind,
                  const std::function<Status()>& work, bool wait, const std::function<bool()>& stop,
                  const std::function<void()>& waiting) {
  pg::Connection& db = claims.db();
  while (!stop()) {
    auto stand =
        pg::retry_db_value<TaskStand>(db, [&] { return claims.task_stand(round.number, kind, 0); });
    if (!stand) return stand.error();
    if (stand->complete) return Ok{};
    if (!stand->held) {
      auto claim = pg::retry_db_value<std::optional<Claim>>(
          db, [&] { return claims.claim_task(membership.worker(), round.number, kind); });
      if (!claim) return claim.error();
      if (*claim) {
        membership.hold(**claim);
        Status done = work();
        if (done && !stop()) {
          auto completed = pg::retry_db_value<bool>(
              db, [&] { return claims.complete_task(round.number, **claim); }, true);
          if (!completed) done = completed.error();
        }
        membership.drop(**claim);
        if (!done) return done;
        continue;
      }
    }
    if (!wait) return Ok{};
    waiting();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return Ok{};
}

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
  // Every worker copies the same way, or none starts.
  if (auto st =
          state.settle_settings(result_settings(config), config.change_settings, config.lease);
      !st) {
    summary.refused = st.error().kind == ErrorKind::kInvalidInput;
    return finish(failed(summary, st.error()));
  }
  // Shared with the job's other workers; never held beside a cleanup.
  if (auto st = state.lock_job(JobLock::kShared); !st) return finish(failed(summary, st.error()));
  S3Services s3(config);
  s3.observe(hooks.metrics);
  if (auto st = s3.check_access(config); !st) return finish(failed(summary, st.error()));
  auto membership = Membership::join(config, state.job());
  if (!membership) return finish(failed(summary, membership.error()));
  ClaimStore claims(state, config.lease);
  auto round = pg::retry_db_value<Round>(*db, [&] { return claims.join_round(config.relist); });
  if (!round) return finish(failed(summary, round.error()));
  summary.worker_id = (*membership)->worker();
  summary.round = round->number;
  if (hooks.metrics)
    hooks.metrics->set_info(job_name(config), version(), std::to_string(summary.worker_id));
  if (auto counts = rows.count_paths(); counts) summary.rows_total_legacy = counts->legacy;

  PgJobState job_state(state, config, **membership);
  // Uploads a killed worker left open are aborted before any new one starts.
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
  Membership& me = **membership;
  auto report = [&](const char* phase) {
    progress.report(phase);
    // The production endpoint's limit, when the server set it (the copies' writes are what it
    // throttles): a --max-rps of this worker's own is no limit of the others'.
    const s3::PacerStats pacing = s3.production_pacer().stats();
    me.publish(WorkerStats{phase, summary.objects_copied + summary.objects_already_copied,
                           summary.rows_rewritten, summary.requests, summary.throttled,
                           pacing.server_limited ? pacing.current_rps_limit : 0});
    // Other workers already held to the server's limit: start at this one's share of it
    // rather than find it with a burst of 503s (ignored once this one is limited itself).
    if (const double share = me.share_of_rate_limits(); share > 0) {
      s3.production_pacer().start_at(share);
    }
    if (hooks.metrics) feed_metrics(*hooks.metrics, summary, s3, me.job_ranges());
  };
  Context ctx{config,
              s3.loop,
              s3.legacy,
              s3.production,
              copier,
              job_state,
              summary,
              hooks.stop_requested,
              report,
              [&s3, server_side = server_side_copy_possible(config)] {
                return s3.request_slots(server_side);
              }};
  auto fail_with = [&](const Error& error) {
    progress.finish();
    s3.count_requests(summary);
    if (hooks.metrics) feed_metrics(*hooks.metrics, summary, s3, me.job_ranges());
    return finish(failed(summary, error));
  };

  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  // Phase 1: objects. Earlier problems are settled again by one worker (they may have been
  // resolved since) while the others start on the listing, which every worker shares.
  const auto objects_started = Clock::now();
  auto recheck = [&] { return recheck_earlier_problems(ctx); };
  auto wait_report = [&] { report("waiting for other workers"); };
  Status objects_done = do_or_wait(claims, me, *round, ClaimKind::kRecheck, recheck,
                                   /*wait=*/false, hooks.stop_requested, [] {});
  if (objects_done) {
    ObjectSync objects(ctx);
    objects_done = objects.run();
  }
  if (objects_done) {
    objects_done = do_or_wait(claims, me, *round, ClaimKind::kRecheck, recheck, /*wait=*/true,
                              hooks.stop_requested, wait_report);
  }
  summary.objects_seconds = seconds_since(objects_started);
  if (!objects_done) return fail_with(objects_done.error());
  failpoint("between-copy-and-rewrite");
  // Records earlier rounds made are not trusted blindly: production's listing must still hold
  // each copy before rows are rewritten to it. One worker checks; the others wait for it.
  if (!hooks.stop_requested()) {
    Status checked = do_or_wait(
        claims, me, *round, ClaimKind::kCheck,
        [&]() -> Status {
          auto check = check_earlier_records(ctx, round->started_at, [&](const auto& keys) {
            return pg::retry_db_value<std::vector<std::string>>(
                *db, [&] { return rows.legacy_keys_named(keys); });
          });
          if (!check) return check.error();
          summary.records_rechecked += check->checked;
          summary.records_resettled += check->resettled;
          return Ok{};
        },
        /*wait=*/true, hooks.stop_requested, wait_report);
    if (!checked) return fail_with(checked.error());
  }
  // Phase 2: rows.
  if (!hooks.stop_requested()) {
    const auto rows_started = Clock::now();
    RowSync row_sync(ctx, rows, state, claims, me, *round);
    Status rows_done = row_sync.run();
    summary.rows_seconds = seconds_since(rows_started);
    if (!rows_done) return fail_with(rows_done.error());
  }
  progress.finish();
  s3.count_requests(summary);

  // Phase 3: what is left, counted from the table and the records themselves: this worker
  // exits with the job's status, whichever worker found the problems. A lost connection or a
  // DBA's statement_timeout is retried like every other statement of the run.
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
  if (!hooks.stop_requested()) {
    auto problems = pg::retry_db_value<ProblemCounts>(*db, [&] { return state.problem_counts(); });
    if (!problems) return finish(failed(summary, problems.error()));
    summary.job_objects_conflict = problems->conflict;
    summary.job_objects_failed = problems->failed;
  }
  summary.outcome = run_outcome(summary, hooks.stop_requested());
  if (hooks.metrics) {
    // The last word on the job's ranges, not the heartbeat's count of a few seconds ago.
    auto ranges = claims.count_ranges();
    feed_metrics(*hooks.metrics, summary, s3, ranges ? std::optional(*ranges) : me.job_ranges());
  }
  return finish(summary);
}

}  // namespace rehome::engine
