// `rehome cleanup`: the only command that deletes, and only legacy objects for which all of
// these hold at deletion time:
//   - production holds an identical twin, seen in a fresh listing: the same ETag and size, or
//     (where ETags are not MD5s: SSE-KMS, multipart) the very twin rehome proved identical by
//     the identity rule and recorded;
//   - rehome recorded the twin as copied, for this same ETag and size (a legacy object
//     re-uploaded in place since is never deleted);
//   - no row names the legacy key: checked when the batch is picked, and again right before
//     every attempt of the DeleteObjects request (cleanup retries it itself, so the window is
//     one request, not the minutes a retried request can take);
//   - the last rewrite of a row that named it, the copy's record, and the object's own last
//     write (LastModified) are all older than --grace;
//   - on servers that honour it (AWS), the object still has the ETag it was judged by: each key
//     is deleted with that ETag as its condition.
// The row check and the DELETE still cannot share a transaction (S3 and PostgreSQL have none
// in common): the grace period covers an application that goes on writing legacy paths.
// On a versioned legacy bucket a delete adds a delete marker and reclaims nothing until a
// lifecycle rule expires the old versions: the summary says which it is.
#include <fmt/format.h>

#include <map>
#include <set>

#include "engine/commands.h"
#include "engine/key_map.h"
#include "engine/legacy_delete.h"
#include "engine/lister.h"
#include "engine/metrics_feed.h"
#include "engine/object_decision.h"
#include "engine/row_store.h"
#include "engine/services.h"
#include "engine/state_store.h"
#include "pg/identifier.h"
#include "s3/retry.h"
#include "util/version.h"

namespace rehome::engine {

namespace {

constexpr std::size_t kDeleteBatch = 1000;  // DeleteObjects' maximum.

struct Candidate {
  std::string key;
  std::string etag;
  std::int64_t size;
  std::string twin_etag;
  bool proven;                ///< The listings alone prove the twin identical (object_decision.h).
  std::string last_modified;  ///< The legacy object's, from the listing (ISO 8601; "" unknown).
};

/// Of `batch`, the keys that are safe to delete now.
Result<std::vector<s3::DeleteTarget>> safe_to_delete(pg::Connection& db, const JobConfig& config,
                                                     const StateStore& state,
                                                     const std::vector<Candidate>& batch,
                                                     std::chrono::seconds grace) {
  std::vector<std::string> keys, etags, twin_etags, proven, modified;
  std::vector<std::int64_t> sizes;
  for (const auto& c : batch) {
    keys.push_back(c.key);
    etags.push_back(c.etag);
    sizes.push_back(c.size);
    twin_etags.push_back(c.twin_etag);
    proven.push_back(c.proven ? "t" : "f");
    modified.push_back(c.last_modified);
  }
  const std::string t = *pg::quote_identifier(config.table);
  const std::string p = *pg::quote_identifier(config.path_column);
  // One scan of the table per batch finds every reference (hashed = ANY); an index on the
  // path column makes it an index lookup instead. A twin the listings cannot prove identical
  // (SSE-KMS, multipart ETags) counts when it is the very object rehome proved and recorded.
  auto r = db.exec(
      fmt::format(R"(
    WITH candidate AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $6::text[], $7::bool[],
                           $8::text[]) AS c(key, etag, size, twin_etag, proven, modified)),
    referenced AS (
      SELECT DISTINCT x.{p}::text COLLATE "C" AS key FROM {t} x WHERE x.{p} = ANY($1::text[]))
    SELECT c.key FROM candidate c
    JOIN {s}.objects o ON o.job_id = $4 AND o.legacy_key = c.key COLLATE "C"
                      AND o.state = 'copied' AND o.etag = c.etag AND o.size = c.size
                      AND (c.proven OR (o.production_etag <> '' AND o.production_etag = c.twin_etag))
    WHERE c.key COLLATE "C" NOT IN (SELECT key FROM referenced)
      AND GREATEST((SELECT max(w.rewritten_at) FROM {s}.rewrites w
                    WHERE w.job_id = $4 AND w.old_path = c.key COLLATE "C"), o.updated_at,
                   NULLIF(c.modified, '')::timestamptz)
          <= now() - make_interval(secs => $5::double precision)
    ORDER BY c.key COLLATE "C")",
                  fmt::arg("t", t), fmt::arg("p", p), fmt::arg("s", state.schema())),
      {pg::text_array_literal(keys), pg::text_array_literal(etags), pg::int_array_literal(sizes),
       state.job_id(), std::to_string(grace.count()), pg::text_array_literal(twin_etags),
       pg::text_array_literal(proven), pg::text_array_literal(modified)});
  if (!r) return r.error();
  std::map<std::string, std::string> etag_of;
  for (const auto& c : batch) etag_of.emplace(c.key, c.etag);
  std::vector<s3::DeleteTarget> out;
  for (int i = 0; i < r->size(); ++i) {
    std::string key(r->text(i, 0));
    out.push_back(s3::DeleteTarget{key, etag_of[key]});
  }
  return out;
}

/// Of `targets`, those no row names now (the check repeated right before a delete is sent).
Result<std::vector<s3::DeleteTarget>> still_unreferenced(RowStore& rows,
                                                         std::vector<s3::DeleteTarget> targets) {
  std::vector<std::string> keys;
  for (const auto& t : targets) keys.push_back(t.key);
  auto named = rows.legacy_keys_named(keys);
  if (!named) return named.error();
  const std::set<std::string> referenced(named->begin(), named->end());
  std::erase_if(targets, [&](const auto& t) { return referenced.contains(t.key); });
  return targets;
}

/// What cleanup can say about the legacy bucket's versioning: a delete on a versioned bucket
/// adds a marker and reclaims nothing by itself.
void note_versioning(S3Services& s3, const JobConfig& config, Summary& summary) {
  auto status = s3::run_to_completion<std::string>(
      s3.loop, [&](auto done) { s3.legacy.get_bucket_versioning(config.legacy.bucket, done); });
  const std::string bucket = "s3://" + config.legacy.bucket;
  if (!status) {
    summary.note_problem(fmt::format(
        "could not tell whether {} keeps old versions ({}): grant s3:GetBucketVersioning to "
        "know whether deletes reclaim space",
        bucket, status.error().message));
  } else if (*status == "Enabled" || *status == "Suspended") {
    summary.note_problem(fmt::format(
        "{} has versioning {}: each delete adds a delete marker and keeps the object as a "
        "noncurrent version (recoverable, still billed) until a lifecycle rule expires "
        "noncurrent versions",
        bucket, *status == "Enabled" ? "enabled" : "suspended"));
  } else {
    summary.note_problem(fmt::format(
        "{} is not versioned: deleted objects cannot be recovered; consider enabling versioning "
        "with a lifecycle rule that expires noncurrent versions after a few days before cleanup",
        bucket));
  }
}

}  // namespace

Summary cleanup(const JobConfig& config, const CleanupOptions& options, const CommandHooks& hooks) {
  const auto started = std::chrono::steady_clock::now();
  Summary summary;
  summary.command = Command::kCleanup;
  auto finish = [&](Outcome outcome, std::string error = {}) {
    summary.outcome = outcome;
    summary.error = std::move(error);
    summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return summary;
  };
  auto db = connect_database(config);
  if (!db) return finish(Outcome::kFailed, db.error().message);
  StateStore state(*db, config.state_schema, job_name(config));
  RowStore rows(*db, config, state);
  if (auto st = rows.check_table(); !st) return finish(Outcome::kFailed, st.error().message);
  auto exists = state.exists();
  if (!exists) return finish(Outcome::kFailed, exists.error().message);
  Result<bool> found = *exists ? state.find_job() : Result<bool>(false);
  if (!found) return finish(Outcome::kFailed, found.error().message);
  if (!*found) {
    return finish(Outcome::kFailed,
                  fmt::format("no rehome records of this job in schema {}: run `rehome "
                              "run` first; cleanup deletes only what a run has copied",
                              config.state_schema));
  }
  // Alone: never beside a worker of the job (whose rows may name an object this deletes), nor
  // beside another cleanup.
  if (auto st = state.lock_job(JobLock::kExclusive); !st) {
    return finish(Outcome::kFailed, st.error().message);
  }
  S3Services s3(config);
  s3.observe(hooks.metrics);
  if (hooks.metrics) hooks.metrics->set_info(job_name(config), version(), "cleanup");
  if (auto st = s3.check_access(config); !st) return finish(Outcome::kFailed, st.error().message);
  note_versioning(s3, config, summary);

  Lister legacy(s3.legacy, config.legacy.bucket, config.legacy.prefix, "", [] {});
  Lister production(s3.production, config.production.bucket, config.production.prefix, "", [] {});
  std::vector<Candidate> batch;
  std::optional<Error> fatal;

  // Deletes go through a client that does not retry: LegacyDelete retries them itself,
  // asking the rows again before every attempt.
  s3::Client deleter(s3.loop, *s3.legacy_pacer, config.legacy.client,
                     s3::RetryPolicy{.max_attempts = 1});
  deleter.observe(hooks.metrics);
  LegacyDelete remover(
      deleter, s3.loop, config.legacy.bucket,
      [&](std::vector<s3::DeleteTarget> targets) {
        return still_unreferenced(rows, std::move(targets));
      },
      summary);
  auto delete_batch = [&]() {
    if (batch.empty()) return;
    auto safe = safe_to_delete(*db, config, state, batch, options.grace);
    if (!safe) {
      fatal = safe.error();
      return;
    }
    summary.objects_kept += batch.size() - safe->size();
    batch.clear();
    if (safe->empty()) return;
    if (options.dry_run) {
      summary.objects_deleted += safe->size();
      return;
    }
    if (auto st = remover.run(std::move(safe.value())); !st) fatal = st.error();
    if (hooks.metrics) feed_metrics(*hooks.metrics, summary, s3, std::nullopt);
  };

  auto wait = [&](Lister& l) {
    l.prefetch();
    while (!l.ready()) s3.loop.run();
    if (l.error() && !fatal) fatal = *l.error();
  };
  while (!fatal && !hooks.stop_requested()) {
    wait(legacy);
    if (fatal || legacy.exhausted()) break;
    const auto& object = legacy.front();
    const auto suffix = KeyMap::suffix_of_listed(object.key, config.legacy.prefix);
    TwinLookup lookup;
    while (!fatal && !(lookup = take_twin(suffix, production)).ready) {
      if (lookup.error) fatal = lookup.error;
      if (!fatal) wait(production);
    }
    if (fatal) break;
    const std::optional<s3::ObjectInfo>& twin = lookup.twin;
    ++summary.objects_listed;
    const Sameness sameness = twin ? compare(object, *twin).verdict : Sameness::kDifferent;
    if (twin && sameness != Sameness::kDifferent) {
      batch.push_back(Candidate{object.key, object.etag, object.size, twin->etag,
                                sameness == Sameness::kSame, object.last_modified});
    } else {
      ++summary.objects_kept;  // No identical twin: never deleted.
    }
    legacy.pop();
    if (batch.size() >= kDeleteBatch) delete_batch();
  }
  if (!fatal && !hooks.stop_requested()) delete_batch();
  s3.count_requests(summary);
  summary.requests += deleter.stats().requests;
  summary.retries += deleter.stats().retries;
  summary.throttled += deleter.stats().throttled;
  if (hooks.metrics) feed_metrics(*hooks.metrics, summary, s3, std::nullopt);
  if (fatal) return finish(Outcome::kFailed, fatal->message);
  if (hooks.stop_requested()) return finish(Outcome::kInterrupted);
  return finish(Outcome::kComplete);
}

}  // namespace rehome::engine
