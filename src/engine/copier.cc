#include "engine/copier.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "engine/copy_errors.h"
#include "engine/object_decision.h"
#include "s3/addressing.h"
#include "util/crypto.h"
#include "util/failpoint.h"

namespace rehome::engine {

namespace {

// A copy whose result does not match the legacy object is retried this many times (the
// legacy object was rewritten under us); after that it is left for the next run.
constexpr int kMaxCopyRounds = 3;

// A single-part object whose ETag is still not its MD5: SSE-KMS or SSE-C. Seen once, it is
// likely the bucket's default, so every later copy is marked.
bool has_encrypted_etag(const s3::ObjectInfo& object) {
  return object.described && !is_multipart_etag(object.etag) && !has_md5_etag(object);
}

bool is_missing_key(const Error& error) {
  return error.kind == ErrorKind::kNotFound && error.code != "NoSuchBucket";
}

}  // namespace

const char* to_string(CopyOutcome::Kind kind) noexcept {
  switch (kind) {
    case CopyOutcome::Kind::kCopied: return "copied";
    case CopyOutcome::Kind::kAlreadyCopied: return "already copied";
    case CopyOutcome::Kind::kConflict: return "conflict";
    case CopyOutcome::Kind::kSourceMissing: return "source missing";
    case CopyOutcome::Kind::kFailed: return "failed";
  }
  return "unknown";
}

std::chrono::milliseconds transfer_timeout(std::int64_t bytes) {
  constexpr std::int64_t kSlowestBytesPerSecond = 8LL * 1024 * 1024;
  constexpr std::chrono::seconds kFloor{60};
  return kFloor + std::chrono::seconds(std::max<std::int64_t>(bytes, 0) / kSlowestBytesPerSecond);
}

struct Copier::Task {
  s3::ObjectInfo legacy;
  std::optional<s3::ObjectInfo> production;
  std::string production_key;
  int rounds = 0;  // Copies started; bounded by kMaxCopyRounds whatever the server answers.
  // What rehome wrote at production_key in this task: the ETag the write returned and the
  // legacy ETag it was made from. A twin with that ETag is rehome's own object, the only one
  // a recopy may replace.
  std::string written_etag;
  std::string written_from;
  // When set, the next copy replaces rehome's own copy, guarded by If-Match on this ETag
  // (never without a condition: the application may have written the key since).
  std::string replace_etag;
  std::optional<Error> refusal;  // The server refused this object with a 403 (is_job_fatal).
  std::int64_t bytes_copied = 0;
  bool wrote = false;           // A write of this task succeeded (for counting: copied).
  bool bytes_compared = false;  // compare_bytes ran once already: it is not repeated.
  bool looked_up = false;       // The recorded copy was looked up (once per task).
  bool refreshed = false;       // A copy replaced rehome's own copy of an older version.
  Done done;
};

Copier::Copier(s3::Api& legacy, s3::Api& production, const JobConfig& config, bool server_side,
               RecordedCopies recorded, UploadLedger* uploads)
    : legacy_(legacy),
      production_(production),
      config_(config),
      recorded_(std::move(recorded)),
      map_(config.legacy.prefix, config.production.prefix),
      server_side_(server_side),
      budget_(kStreamBudgetBytes),
      streamer_(legacy, production, budget_, uploads) {}

void Copier::settle(s3::ObjectInfo legacy, std::optional<s3::ObjectInfo> production, Done done) {
  auto task = std::make_shared<Task>();
  task->production_key = map_.to_production(legacy.key).value_or("");
  task->legacy = std::move(legacy);
  task->production = std::move(production);
  task->done = std::move(done);
  if (task->production_key.empty()) {
    return finish(task, CopyOutcome::Kind::kFailed, "key is not under the legacy prefix");
  }
  switch (decide(task->legacy, task->production)) {
    case ObjectAction::kAlreadyCopied: return finish(task, CopyOutcome::Kind::kAlreadyCopied);
    case ObjectAction::kConflict: return judge_twin(task);  // Unless it is rehome's own copy.
    case ObjectAction::kLookCloser: return refresh_legacy(task);
    case ObjectAction::kCopy: return start_copy(task);
  }
}

void Copier::settle_key(std::string legacy_key, Done done) {
  auto task = std::make_shared<Task>();
  task->production_key = map_.to_production(legacy_key).value_or("");
  task->legacy.key = std::move(legacy_key);
  task->done = std::move(done);
  if (task->production_key.empty()) {
    return finish(task, CopyOutcome::Kind::kFailed, "key is not under the legacy prefix");
  }
  refresh_legacy(task);
}

std::string Copier::twin_uri(const Task& task) const {
  return s3::s3_uri(config_.production.bucket, task.production_key);
}

// Describes the legacy object afresh (HEAD), then looks at its twin and decides again.
void Copier::refresh_legacy(std::shared_ptr<Task> task) {
  describe_legacy(task, [this, task] { recheck_destination(task); });
}

// HEADs the legacy object into task->legacy, then runs `then`; a vanished object is
// source-missing, another error fails the object.
void Copier::describe_legacy(std::shared_ptr<Task> task, std::function<void()> then) {
  legacy_.head_object(config_.legacy.bucket, task->legacy.key,
                      [this, task, then = std::move(then)](Result<s3::ObjectInfo> head) {
                        if (!head) {
                          if (is_missing_key(head.error()))
                            return finish(task, CopyOutcome::Kind::kSourceMissing);
                          return fail(task, head.error());
                        }
                        task->legacy = std::move(head.value());
                        if (has_encrypted_etag(task->legacy)) mark_copies_ = true;
                        then();
                      });
}

// Looks at production's twin now (HEAD) and decides again by the identity rule: used when no
// listing could tell, after a copy whose ETag did not prove it, and when a conditional write
// said the key changed while we were working.
void Copier::recheck_destination(std::shared_ptr<Task> task) {
  production_.head_object(config_.production.bucket, task->production_key,
                          [this, task](Result<s3::ObjectInfo> head) {
                            if (!head && !is_missing_key(head.error()))
                              return fail(task, head.error());
                            task->production.reset();
                            if (!head) return start_copy(task);
                            task->production = std::move(head.value());
                            judge_twin(task);
                          });
}

Result<bool> Copier::is_own_copy(Task& task, const s3::ObjectInfo& twin) {
  if (!task.written_etag.empty() && twin.etag == task.written_etag) return true;
  if (task.wrote || task.looked_up || !recorded_) return false;
  task.looked_up = true;
  auto recorded = recorded_(task.legacy.key);
  if (!recorded) return std::move(recorded).error();
  if (!*recorded || (*recorded)->etag.empty() || (*recorded)->etag != twin.etag) return false;
  task.written_etag = (*recorded)->etag;
  task.written_from = (*recorded)->from_etag;
  return true;
}

void Copier::judge_twin(std::shared_ptr<Task> task) {
  const s3::ObjectInfo& twin = *task->production;
  const Identity identity = compare(task->legacy, twin);
  bool ours = !task->written_etag.empty() && twin.etag == task->written_etag;
  // Only a twin that is not proven identical needs to know whose it is (a database read).
  if (identity.verdict != Sameness::kSame) {
    auto own = is_own_copy(*task, twin);
    if (!own) return fail(task, own.error());
    ours = *own;
  }
  if (ours && has_encrypted_etag(twin)) mark_copies_ = true;  // production encrypts (SSE-KMS)
  const auto made = task->wrote ? CopyOutcome::Kind::kCopied : CopyOutcome::Kind::kAlreadyCopied;
  switch (identity.verdict) {
    case Sameness::kSame:
      // Counted as copied when this task wrote it, even if the write named no ETag (radosgw's
      // CompleteMultipartUpload): `ours`, which allows a replace, needs the ETag.
      return finish(task, made);
    case Sameness::kUnproven:
      // rehome wrote this twin from the legacy object as it still is (the copy named that ETag
      // as its source condition, or the PUT sent the bytes read under it; or an earlier run
      // recorded that pair): that is the proof.
      if (ours && task->written_from == task->legacy.etag) return finish(task, made);
      // Nothing the servers store can tell (an unmarked twin: another writer's, or a copy
      // whose process died before it could learn to mark): read both and compare the bytes.
      if (!ours && !task->bytes_compared && within_stream_limit(task->legacy.size)) {
        return compare_bytes(task);
      }
      [[fallthrough]];
    case Sameness::kDifferent:
      if (ours) {
        // The legacy object changed after rehome copied it (re-uploaded in place): replace
        // rehome's own copy, and only while it is still rehome's (If-Match). Rows already
        // rewritten to it serve the newer content from then on. A twin known from a listing
        // page may be seconds old, and radosgw ignores If-Match: look at it now first, so the
        // window in which an application write could be replaced is one request.
        if (!twin.described) return recheck_destination(task);
        task->replace_etag = twin.etag;
        task->refreshed = true;
        return start_copy(task);
      }
      return finish(task, CopyOutcome::Kind::kConflict,
                    describe_difference(task->legacy, twin, identity, twin_uri(*task)));
  }
}

// Reads one object through an MD5 as it streams by (nothing is held in memory). The digest
// is empty when the GET saw another ETag than `etag`: the object changed since its HEAD.
void Copier::digest(s3::Api& api, const std::string& bucket, const std::string& key,
                    const s3::ObjectInfo& seen, std::function<void(Result<std::string>)> done) {
  auto hasher = std::make_shared<Md5Stream>();
  s3::GetRequest get;
  get.bucket = bucket;
  get.key = key;
  get.timeout = transfer_timeout(seen.size);
  get.body_sink = [hasher](std::string_view chunk) {
    hasher->update(chunk);
    return true;
  };
  get.on_restart = [hasher] { hasher->reset(); };
  api.get_object(std::move(get),
                 [hasher, etag = seen.etag, done = std::move(done)](Result<s3::GetResult> got) {
                   if (!got) return done(std::move(got).error());
                   done(got.value().info.etag == etag ? hasher->finish() : std::string());
                 });
}

// Judges an unproven twin by its bytes: reads the legacy object, then the twin, and compares
// the digests. An object that changed meanwhile sends the judgement back to a fresh look.
void Copier::compare_bytes(std::shared_ptr<Task> task) {
  task->bytes_compared = true;
  digest(legacy_, config_.legacy.bucket, task->legacy.key, task->legacy,
         [this, task](Result<std::string> legacy_digest) {
           if (!legacy_digest) return fail_or_look_again(task, legacy_digest.error());
           if (legacy_digest.value().empty()) return refresh_legacy(task);
           digest(production_, config_.production.bucket, task->production_key, *task->production,
                  [this, task, want = legacy_digest.value()](Result<std::string> twin_digest) {
                    if (!twin_digest) return fail_or_look_again(task, twin_digest.error());
                    if (twin_digest.value().empty()) return refresh_legacy(task);
                    if (twin_digest.value() == want) {
                      return finish(task, CopyOutcome::Kind::kAlreadyCopied);
                    }
                    const Identity different{Sameness::kDifferent, "bytes"};
                    finish(task, CopyOutcome::Kind::kConflict,
                           describe_difference(task->legacy, *task->production, different,
                                               twin_uri(*task)));
                  });
         });
}

// A read that failed: a key that vanished calls for a fresh look; anything else fails.
void Copier::fail_or_look_again(std::shared_ptr<Task> task, const Error& error) {
  if (is_missing_key(error)) return refresh_legacy(std::move(task));
  fail(std::move(task), error);
}

void Copier::start_copy(std::shared_ptr<Task> task) {
  if (++task->rounds > kMaxCopyRounds) {
    return finish(task, CopyOutcome::Kind::kFailed,
                  fmt::format("no identical copy after {} attempts (the legacy object kept "
                              "changing, or the server kept refusing the write): the next run "
                              "tries again",
                              kMaxCopyRounds));
  }
  if (!server_side_) return copy_streamed(task);
  // At the threshold or above, as the AWS CLI decides.
  if (task->legacy.size >= config_.multipart_threshold) return copy_by_parts(task);
  const bool mark = mark_copies_ || is_multipart_etag(task->legacy.etag) ||
                    (task->legacy.described && !has_md5_etag(task->legacy));
  if (!mark || task->legacy.described) return copy_server_side(task, mark);
  // A marked copy replaces the metadata, so it must first learn what to carry over.
  describe_legacy(task, [this, task] { copy_server_side(task, true); });
}

void Copier::copy_server_side(std::shared_ptr<Task> task, bool mark) {
  s3::CopyRequest request;
  request.source_bucket = config_.legacy.bucket;
  request.source_key = task->legacy.key;
  request.bucket = config_.production.bucket;
  request.key = task->production_key;
  // A new twin never overwrites (If-None-Match); a recopy replaces only rehome's own copy
  // (If-Match); the source must still be what was judged. radosgw ignores all three, so the
  // result is verified regardless.
  request.if_none_match = task->replace_etag.empty();
  request.if_match = std::exchange(task->replace_etag, {});
  request.source_if_match = task->legacy.etag;
  if (mark) request.replace_metadata = carried_headers(task->legacy);
  request.acl = config_.acl;
  request.storage_class = config_.storage_class;
  request.timeout = transfer_timeout(task->legacy.size);
  production_.copy_object(std::move(request), [this, task](Result<s3::CopyResult> copied) {
    if (!copied) {
      const auto& error = copied.error();
      // 412: the twin appeared, or changed, or the source changed; 404: the source or (with
      // If-Match) the twin vanished. Look again rather than guess, in this task, so that its
      // round count still bounds a server that answers so forever.
      if (error.kind == ErrorKind::kPreconditionFailed || is_missing_key(error)) {
        return refresh_legacy(task);
      }
      return fail(task, error);
    }
    task->bytes_copied = task->legacy.size;
    s3::ObjectInfo written;
    written.key = task->production_key;
    written.etag = copied->etag;
    written.size = task->legacy.size;
    check_copy(task, std::move(written));
  });
}

http::Headers Copier::carried_headers(const s3::ObjectInfo& legacy) {
  http::Headers headers = legacy.metadata;
  if (!legacy.content_type.empty()) headers.emplace_back("content-type", legacy.content_type);
  headers.emplace_back(s3::kCopiedFromHeader, legacy.etag);
  return headers;
}

bool Copier::within_stream_limit(std::int64_t bytes) const {
  return config_.max_streamed_object <= 0 || bytes <= config_.max_streamed_object;
}

StreamedWrite Copier::streamed_write(const Task& task) {
  StreamedWrite write;
  write.source_bucket = config_.legacy.bucket;
  write.source = task.legacy;
  write.bucket = config_.production.bucket;
  write.key = task.production_key;
  write.if_none_match = task.replace_etag.empty();
  write.if_match = task.replace_etag;
  write.acl = config_.acl;
  write.storage_class = config_.storage_class;
  write.part_bytes = config_.multipart_chunksize;
  // Through this process a body is held whole only up to one part, whatever the threshold,
  // and a part is at most half the memory budget, whatever the chunk size: the bodies in flight
  // stay within the budget.
  const std::int64_t streamed_part = std::min(config_.multipart_chunksize, kStreamBudgetBytes / 2);
  write.whole_limit = std::min(config_.multipart_threshold - 1, streamed_part);
  return write;
}

void Copier::copy_streamed(std::shared_ptr<Task> task) {
  if (!within_stream_limit(task->legacy.size)) {
    return finish(task, CopyOutcome::Kind::kFailed,
                  fmt::format("{} bytes is more than --max-streamed-object ({} bytes) for a copy "
                              "between different endpoints or credentials: raise it (0: no limit)",
                              task->legacy.size, config_.max_streamed_object));
  }
  StreamedWrite write = streamed_write(*task);
  write.part_bytes = std::min(write.part_bytes, kStreamBudgetBytes / 2);
  task->replace_etag.clear();
  // A copy its ETag cannot prove carries the mark: a multipart upload's ETag never equals a
  // single-part source's, and an SSE-KMS source's ETag is no MD5.
  write.mark = [this, whole_limit = write.whole_limit](const s3::ObjectInfo& source) {
    return mark_copies_ || !has_md5_etag(source) || source.size > whole_limit;
  };
  streamer_.copy(std::move(write), [this, task](Result<StreamedResult> copied) {
    copied_by_streamer(task, std::move(copied));
  });
}

// Beyond CopyObject's reach (5 GB, or --multipart-threshold): a multipart upload whose parts
// the server copies. Its ETag is a multipart one, so the copy always carries the mark.
void Copier::copy_by_parts(std::shared_ptr<Task> task) {
  StreamedWrite write = streamed_write(*task);
  task->replace_etag.clear();
  write.server_side_parts = true;
  write.mark = [](const s3::ObjectInfo&) { return true; };
  streamer_.copy(std::move(write), [this, task](Result<StreamedResult> copied) {
    copied_by_streamer(task, std::move(copied));
  });
}

void Copier::copied_by_streamer(std::shared_ptr<Task> task, Result<StreamedResult> copied) {
  if (!copied) {
    const Error& error = copied.error();
    // The source changed between parts or vanished, or the twin's condition failed: look
    // again, in this task, so its round count bounds it.
    if (error.kind == ErrorKind::kPreconditionFailed || is_missing_key(error)) {
      return refresh_legacy(task);
    }
    return fail(task, error);
  }
  // What was read (or described) is what was copied: describe the legacy object by it.
  task->legacy = std::move(copied.value().source);
  task->bytes_copied = copied.value().bytes;
  check_copy(task, std::move(copied.value().written));
}

// The write reported an ETag. The legacy object's own ETag proves the copy at once (the common
// case: single-part, unencrypted); anything else is judged by the identity rule on a fresh
// look at both sides, which also catches a legacy object that changed after it was listed.
void Copier::check_copy(std::shared_ptr<Task> task, s3::ObjectInfo written) {
  failpoint("after-a-copy-before-its-record");
  task->wrote = true;
  task->written_etag = written.etag;
  task->written_from = task->legacy.etag;
  if (!written.etag.empty() && written.etag == task->legacy.etag) {
    task->production = std::move(written);
    return finish(task, CopyOutcome::Kind::kCopied);
  }
  refresh_legacy(task);
}

void Copier::finish(std::shared_ptr<Task> task, CopyOutcome::Kind kind, std::string detail,
                    std::optional<Error> fatal) {
  CopyOutcome out;
  out.kind = kind;
  out.refusal = task->refusal;
  out.refreshed = task->refreshed && kind == CopyOutcome::Kind::kCopied;
  out.fatal = std::move(fatal);
  out.bytes_copied = kind == CopyOutcome::Kind::kCopied ? task->bytes_copied : 0;
  auto& rec = out.record;
  rec.legacy_key = task->legacy.key;
  rec.etag = task->legacy.etag;
  rec.size = task->legacy.size;
  rec.production_etag = task->production ? task->production->etag : "";
  rec.detail = std::move(detail);
  rec.rehome_wrote = kind == CopyOutcome::Kind::kCopied && task->wrote;
  switch (kind) {
    case CopyOutcome::Kind::kCopied:
    case CopyOutcome::Kind::kAlreadyCopied: rec.state = ObjectState::kCopied; break;
    case CopyOutcome::Kind::kConflict: rec.state = ObjectState::kConflict; break;
    case CopyOutcome::Kind::kSourceMissing: rec.state = ObjectState::kMissing; break;
    case CopyOutcome::Kind::kFailed: rec.state = ObjectState::kFailed; break;
  }
  auto done = std::move(task->done);
  done(std::move(out));
}

void Copier::fail(std::shared_ptr<Task> task, const Error& error) {
  std::optional<Error> fatal;
  if (is_job_fatal(error, config_)) fatal = with_job_advice(error, config_);
  const bool refused = error.kind == ErrorKind::kAccessDenied && !fatal;
  std::string detail =
      refused ? error.message + " (" + object_refusal_advice(error) + ")" : error.message;
  if (refused) task->refusal = error;
  finish(std::move(task), CopyOutcome::Kind::kFailed, std::move(detail), std::move(fatal));
}

void count_outcome(Summary& summary, const CopyOutcome& outcome) {
  const auto& rec = outcome.record;
  switch (outcome.kind) {
    case CopyOutcome::Kind::kCopied:
      ++summary.objects_copied;
      if (outcome.refreshed) ++summary.objects_refreshed;
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
