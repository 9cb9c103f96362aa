#include "engine/copier.h"

#include <fmt/format.h>

#include "engine/object_decision.h"
#include "s3/addressing.h"
#include "util/crypto.h"

namespace rehome::engine {

namespace {

// A copy whose result does not match the legacy object is retried this many times (the
// legacy object was rewritten under us); after that it is left for the next run.
constexpr int kMaxCopyRounds = 3;

// Errors about the job rather than one object: every other object would fail the same way
// (credentials that broke mid-run, a clock to fix, a bucket gone, bad input). A 403 that names
// no such cause is about the object (a policy on its key, its KMS key, its storage class, its
// owner): it fails that object only, and ObjectSync stops the job when the first objects all
// meet it (a deny on the whole prefix).
bool is_job_fatal(const Error& error) {
  static constexpr std::string_view kCredentialCodes[] = {
      "SignatureDoesNotMatch", "InvalidAccessKeyId",          "ExpiredToken",
      "InvalidToken",          "TokenRefreshRequired",        "AllAccessDisabled",
      "AccountProblem",        "RequestTimeTooSkewed",        "InvalidSecurity",
      "NotSignedUp",           "AuthorizationHeaderMalformed"};
  if (error.kind == ErrorKind::kInvalidInput || error.code == "NoSuchBucket") return true;
  for (std::string_view code : kCredentialCodes) {
    if (error.code == code) return true;
  }
  return false;
}

// What to do about an object the server refused, for its record and the summary.
std::string object_refusal_advice(const Error& error) {
  if (error.code == "InvalidObjectState") {
    return "the object is archived (GLACIER, DEEP_ARCHIVE or an archive tier): restore it "
           "(s3api restore-object) and rerun; its rows stay legacy until then";
  }
  return "only this object is refused: a bucket policy or ACL on its key, a KMS key this role "
         "may not use, or another account's object; grant access (s3:GetObject, kms:Decrypt) "
         "and rerun; its rows stay legacy until then";
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

struct Copier::Task {
  s3::ObjectInfo legacy;
  std::optional<s3::ObjectInfo> production;
  std::string production_key;
  int rounds = 0;      // Copies started; bounded by kMaxCopyRounds whatever the server answers.
  bool wrote = false;  // rehome wrote the twin (a copy or a PUT that succeeded).
  std::optional<Error> refusal;  // The server refused this object with a 403 (is_job_fatal).
  std::int64_t bytes_copied = 0;
  /// The twin is our own earlier copy of a legacy object that has since changed: the recopy
  /// may replace it (without If-None-Match, which would refuse our own object).
  bool replacing_own_copy = false;
  Done done;
};

Copier::Copier(s3::Api& legacy, s3::Api& production, const JobConfig& config, bool server_side)
    : legacy_(legacy),
      production_(production),
      config_(config),
      map_(config.legacy.prefix, config.production.prefix),
      server_side_(server_side) {}

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
    case ObjectAction::kConflict: return finish(task, CopyOutcome::Kind::kConflict);
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

// Describes the legacy object afresh (HEAD), then looks at its twin and decides again. What
// earlier rounds learnt no longer holds: the twin is judged afresh, and a copy made after this
// look sends If-None-Match again (production may hold the app's object by now).
void Copier::refresh_legacy(std::shared_ptr<Task> task) {
  task->replacing_own_copy = false;
  task->wrote = false;
  legacy_.head_object(config_.legacy.bucket, task->legacy.key,
                      [this, task](Result<s3::ObjectInfo> head) {
                        if (!head) {
                          if (is_missing_key(head.error()))
                            return finish(task, CopyOutcome::Kind::kSourceMissing);
                          return fail(task, head.error());
                        }
                        task->legacy = std::move(head.value());
                        recheck_destination(task);
                      });
}

// Looks at production's twin now and decides again: used when no listing told us, and when a
// conditional write said the twin appeared while we were working.
void Copier::recheck_destination(std::shared_ptr<Task> task) {
  production_.head_object(
      config_.production.bucket, task->production_key, [this, task](Result<s3::ObjectInfo> head) {
        if (!head && !is_missing_key(head.error())) return fail(task, head.error());
        task->production.reset();
        if (head) task->production = std::move(head.value());
        switch (decide(task->legacy, task->production)) {
          case ObjectAction::kAlreadyCopied:
            return finish(
                task, task->wrote ? CopyOutcome::Kind::kCopied : CopyOutcome::Kind::kAlreadyCopied);
          case ObjectAction::kConflict:
            // A multipart legacy ETag never equals a server-made copy's: judge by size there.
            if (task->wrote && is_multipart_etag(task->legacy.etag) &&
                task->production->size == task->legacy.size) {
              return finish(task, CopyOutcome::Kind::kCopied);
            }
            return finish(task, CopyOutcome::Kind::kConflict);
          case ObjectAction::kCopy: return start_copy(task);
        }
      });
}

void Copier::start_copy(std::shared_ptr<Task> task) {
  if (++task->rounds > kMaxCopyRounds) {
    return finish(task, CopyOutcome::Kind::kFailed,
                  fmt::format("no identical copy after {} attempts (the legacy object kept "
                              "changing, or the server kept refusing the write): the next run "
                              "tries again",
                              kMaxCopyRounds));
  }
  if (server_side_) return copy_server_side(task);
  copy_streamed(task);
}

void Copier::copy_server_side(std::shared_ptr<Task> task) {
  s3::CopyRequest request;
  request.source_bucket = config_.legacy.bucket;
  request.source_key = task->legacy.key;
  request.bucket = config_.production.bucket;
  request.key = task->production_key;
  // Servers that honour them refuse to overwrite an existing twin or to copy a source that
  // changed since it was listed; radosgw ignores both, so check_copy verifies regardless.
  request.if_none_match = !task->replacing_own_copy;
  request.source_if_match = task->legacy.etag;
  production_.copy_object(std::move(request), [this, task](Result<s3::CopyResult> copied) {
    if (!copied) {
      const auto& error = copied.error();
      if (error.kind == ErrorKind::kPreconditionFailed) {
        // Either the twin appeared or the source changed: look again rather than guess, in
        // this task, so that its round count still bounds a server that answers 412 forever.
        return refresh_legacy(task);
      }
      if (is_missing_key(error)) return finish(task, CopyOutcome::Kind::kSourceMissing);
      return fail(task, error);
    }
    task->wrote = true;
    task->bytes_copied = task->legacy.size;
    s3::ObjectInfo written;
    written.key = task->production_key;
    written.etag = copied->etag;
    written.size = task->legacy.size;
    check_copy(task, std::move(written));
  });
}

void Copier::copy_streamed(std::shared_ptr<Task> task) {
  if (task->legacy.size > config_.max_streamed_object) {
    return finish(task, CopyOutcome::Kind::kFailed,
                  fmt::format("{} bytes is more than --max-streamed-object ({} bytes) for a copy "
                              "between different endpoints or credentials",
                              task->legacy.size, config_.max_streamed_object));
  }
  s3::GetRequest get;
  get.bucket = config_.legacy.bucket;
  get.key = task->legacy.key;
  legacy_.get_object(std::move(get), [this, task](Result<s3::GetResult> got) {
    if (!got) {
      if (is_missing_key(got.error())) return finish(task, CopyOutcome::Kind::kSourceMissing);
      return fail(task, got.error());
    }
    // What we read is what we copy: describe the legacy object by it, not by the listing.
    std::string digest = md5(got->body);
    task->legacy.size = static_cast<std::int64_t>(got->body.size());
    if (!got->info.etag.empty()) task->legacy.etag = got->info.etag;
    s3::PutRequest put;
    put.bucket = config_.production.bucket;
    put.key = task->production_key;
    put.content_md5_base64 = base64_encode(digest);
    put.content_type = got->info.content_type;
    put.if_none_match = !task->replacing_own_copy;
    put.body = std::move(got->body);
    std::string content_etag = to_hex(digest);
    production_.put_object(
        std::move(put), [this, task, content_etag](Result<s3::ObjectInfo> put_result) {
          if (!put_result) {
            if (put_result.error().kind == ErrorKind::kPreconditionFailed)
              return recheck_destination(task);
            return fail(task, put_result.error());
          }
          task->wrote = true;
          task->bytes_copied = task->legacy.size;
          s3::ObjectInfo written = std::move(put_result.value());
          written.size = task->legacy.size;
          // A single-part legacy ETag is the MD5 we just sent; a multipart one is not, so the
          // content digest stands in for it.
          if (is_multipart_etag(task->legacy.etag) && written.etag == content_etag) {
            written.etag = task->legacy.etag;
          }
          check_copy(task, std::move(written));
        });
  });
}

// The copy reported an ETag: it must be the legacy object's. When it is not, the legacy
// object changed after it was listed; describe it afresh and copy again.
void Copier::check_copy(std::shared_ptr<Task> task, s3::ObjectInfo written) {
  if (!is_multipart_etag(task->legacy.etag)) {
    if (written.etag == task->legacy.etag) {
      task->production = std::move(written);
      return finish(task, CopyOutcome::Kind::kCopied);
    }
    return legacy_.head_object(config_.legacy.bucket, task->legacy.key,
                               [this, task, written](Result<s3::ObjectInfo> head) {
                                 if (!head) {
                                   if (is_missing_key(head.error()))
                                     return finish(task, CopyOutcome::Kind::kSourceMissing);
                                   return fail(task, head.error());
                                 }
                                 task->legacy = std::move(head.value());
                                 if (task->legacy.etag == written.etag) {
                                   // The legacy object changed after it was listed and the copy
                                   // took the new content.
                                   task->production = written;
                                   task->production->size = task->legacy.size;
                                   return finish(task, CopyOutcome::Kind::kCopied);
                                 }
                                 // Our copy overwrote nothing (If-None-Match, or there was no
                                 // twin): it is ours to redo.
                                 task->replacing_own_copy = true;
                                 start_copy(task);
                               });
  }
  // Multipart: a server-side copy gets a new ETag, so judge the twin by HEAD and size.
  recheck_destination(task);
}

void Copier::finish(std::shared_ptr<Task> task, CopyOutcome::Kind kind, std::string detail,
                    std::optional<Error> fatal) {
  CopyOutcome out;
  out.kind = kind;
  out.refusal = task->refusal;
  out.fatal = std::move(fatal);
  out.bytes_copied = kind == CopyOutcome::Kind::kCopied ? task->bytes_copied : 0;
  auto& rec = out.record;
  rec.legacy_key = task->legacy.key;
  rec.etag = task->legacy.etag;
  rec.size = task->legacy.size;
  rec.production_etag = task->production ? task->production->etag : "";
  rec.detail = std::move(detail);
  switch (kind) {
    case CopyOutcome::Kind::kCopied:
    case CopyOutcome::Kind::kAlreadyCopied: rec.state = ObjectState::kCopied; break;
    case CopyOutcome::Kind::kConflict:
      rec.state = ObjectState::kConflict;
      if (rec.detail.empty() && task->production) {
        rec.detail = fmt::format(
            "{} holds different content (ETag {} size {}, legacy ETag {} size {})",
            s3::s3_uri(config_.production.bucket, task->production_key), task->production->etag,
            task->production->size, task->legacy.etag, task->legacy.size);
      }
      break;
    case CopyOutcome::Kind::kSourceMissing: rec.state = ObjectState::kMissing; break;
    case CopyOutcome::Kind::kFailed: rec.state = ObjectState::kFailed; break;
  }
  auto done = std::move(task->done);
  done(std::move(out));
}

void Copier::fail(std::shared_ptr<Task> task, const Error& error) {
  std::optional<Error> fatal;
  if (is_job_fatal(error)) fatal = error;
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
