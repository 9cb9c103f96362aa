// `rehome cleanup`: the only command that deletes, and only legacy objects for which all of
// these hold at deletion time:
//   - production holds an identical twin, seen in a fresh listing: the same ETag and size, or
//     (where ETags are not MD5s: SSE-KMS, multipart) the very twin rehome proved identical by
//     the identity rule and recorded;
//   - rehome recorded the twin as copied, for this same ETag and size;
//   - no row names the legacy key (checked in the same statement that picks the batch);
//   - the last rewrite of a row that named it (or the copy, if none did) is older than --grace.
// The row check and the DELETE are not atomic (S3 and PostgreSQL share no transaction): an
// application that starts writing legacy paths again after the migration would race it. The
// grace period exists for exactly those stragglers (caches, queued jobs).
#include <fmt/format.h>

#include "engine/commands.h"
#include "engine/key_map.h"
#include "engine/lister.h"
#include "engine/object_decision.h"
#include "engine/row_store.h"
#include "engine/services.h"
#include "engine/state_store.h"
#include "pg/identifier.h"
#include "s3/xml.h"

namespace rehome::engine {

namespace {

constexpr std::size_t kDeleteBatch = 1000;  // DeleteObjects' maximum.

struct Candidate {
  std::string key;
  std::string etag;
  std::int64_t size;
  std::string twin_etag;
  bool proven;  ///< The listings alone prove the twin identical (object_decision.h).
};

/// Of `batch`, the keys that are safe to delete now.
Result<std::vector<std::string>> safe_to_delete(pg::Connection& db, const JobConfig& config,
                                                const StateStore& state,
                                                const std::vector<Candidate>& batch,
                                                std::chrono::seconds grace) {
  std::vector<std::string> keys, etags, twin_etags, proven;
  std::vector<std::int64_t> sizes;
  for (const auto& c : batch) {
    keys.push_back(c.key);
    etags.push_back(c.etag);
    sizes.push_back(c.size);
    twin_etags.push_back(c.twin_etag);
    proven.push_back(c.proven ? "t" : "f");
  }
  const std::string t = *pg::quote_identifier(config.table);
  const std::string p = *pg::quote_identifier(config.path_column);
  // One scan of the table per batch finds every reference (hashed = ANY); an index on the
  // path column makes it an index lookup instead. A twin the listings cannot prove identical
  // (SSE-KMS, multipart ETags) counts when it is the very object rehome proved and recorded.
  auto r = db.exec(fmt::format(R"(
    WITH candidate AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $6::text[], $7::bool[])
               AS c(key, etag, size, twin_etag, proven)),
    referenced AS (
      SELECT DISTINCT x.{p}::text COLLATE "C" AS key FROM {t} x WHERE x.{p} = ANY($1::text[]))
    SELECT c.key FROM candidate c
    JOIN {s}.objects o ON o.job_id = $4 AND o.legacy_key = c.key COLLATE "C"
                      AND o.state = 'copied' AND o.etag = c.etag AND o.size = c.size
                      AND (c.proven OR (o.production_etag <> '' AND o.production_etag = c.twin_etag))
    WHERE c.key COLLATE "C" NOT IN (SELECT key FROM referenced)
      AND COALESCE((SELECT max(w.rewritten_at) FROM {s}.rewrites w
                    WHERE w.job_id = $4 AND w.old_path = c.key COLLATE "C"), o.updated_at)
          <= now() - make_interval(secs => $5::double precision)
    ORDER BY c.key COLLATE "C")",
                               fmt::arg("t", t), fmt::arg("p", p), fmt::arg("s", state.schema())),
                   {pg::text_array_literal(keys), pg::text_array_literal(etags),
                    pg::int_array_literal(sizes), state.job_id(), std::to_string(grace.count()),
                    pg::text_array_literal(twin_etags), pg::text_array_literal(proven)});
  if (!r) return r.error();
  std::vector<std::string> out;
  for (int i = 0; i < r->size(); ++i) out.emplace_back(r->text(i, 0));
  return out;
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
  S3Services s3(config);
  if (auto st = s3.check_access(config); !st) return finish(Outcome::kFailed, st.error().message);

  Lister legacy(s3.legacy, config.legacy.bucket, config.legacy.prefix, "", [] {});
  Lister production(s3.production, config.production.bucket, config.production.prefix, "", [] {});
  std::vector<Candidate> batch;
  std::optional<Error> fatal;

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
    // A key XML 1.0 cannot carry (a control character) would make the whole DeleteObjects
    // document malformed, on every run: such keys go one by one, named in the URL.
    std::vector<std::string> in_batch;
    for (auto& key : *safe) {
      if (s3::xml_can_carry(key)) {
        in_batch.push_back(std::move(key));
        continue;
      }
      auto one = s3::run_to_completion<Ok>(
          s3.loop, [&](auto done) { s3.legacy.delete_object(config.legacy.bucket, key, done); });
      if (!one) {
        ++summary.objects_kept;
        summary.note_problem(fmt::format("could not delete s3://{}/{}: {}", config.legacy.bucket,
                                         key, one.error().message));
        continue;
      }
      ++summary.objects_deleted;
    }
    if (in_batch.empty()) return;
    auto result = s3::run_to_completion<s3::DeleteResult>(s3.loop, [&](auto done) {
      s3.legacy.delete_objects(config.legacy.bucket, in_batch, done);
    });
    if (!result) {
      fatal = result.error();
      return;
    }
    summary.objects_deleted += result->deleted.size();
    for (const auto& e : result->errors) {
      ++summary.objects_kept;
      summary.note_problem(fmt::format("could not delete s3://{}/{}: {} {}", config.legacy.bucket,
                                       e.key, e.code, e.message));
    }
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
      batch.push_back(
          Candidate{object.key, object.etag, object.size, twin->etag, sameness == Sameness::kSame});
    } else {
      ++summary.objects_kept;  // No identical twin: never deleted.
    }
    legacy.pop();
    if (batch.size() >= kDeleteBatch) delete_batch();
  }
  if (!fatal && !hooks.stop_requested()) delete_batch();
  s3.count_requests(summary);
  if (fatal) return finish(Outcome::kFailed, fatal->message);
  if (hooks.stop_requested()) return finish(Outcome::kInterrupted);
  return finish(Outcome::kComplete);
}

}  // namespace rehome::engine
