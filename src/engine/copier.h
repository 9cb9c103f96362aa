// Makes sure one legacy object has an identical twin in production, and says what it found.
// This is where promise 1 and 3 live: a twin counts only once the identity rule
// (object_decision.h) proves it holds the legacy object's bytes (copy conditions are not
// trusted: radosgw ignores them), and a production object that is not rehome's own is never
// overwritten: a new twin is written with If-None-Match. The one object rehome replaces is
// its own copy of an older version of the same legacy object (the application re-uploaded it
// in place after the copy): the copy this settle wrote, or the last one an earlier run wrote
// (never a twin it only found identical), and only while it still has that ETag (If-Match on
// it; on a server that ignores the condition, the twin was seen with that ETag by a HEAD just
// before).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "engine/byte_budget.h"
#include "engine/config.h"
#include "engine/key_map.h"
#include "engine/state_store.h"
#include "engine/streamed_copy.h"
#include "engine/summary.h"
#include "s3/api.h"

namespace rehome::engine {

struct CopyOutcome {
  enum class Kind {
    kCopied,         ///< rehome made the twin and verified it.
    kAlreadyCopied,  ///< The twin was already there, identical.
    kConflict,       ///< The twin exists and differs: left alone, reported.
    kSourceMissing,  ///< The legacy object does not exist (or vanished).
    kFailed,         ///< Could not settle it now; the next run tries again.
  };
  Kind kind = Kind::kFailed;
  ObjectRecord record;            ///< What to remember about it (state matches kind).
  std::int64_t bytes_copied = 0;  ///< The object's size when kCopied (0 for an empty one).
  /// Set when the failure is not about this object but about the job (credentials that no
  /// longer work, a missing bucket): the run must stop and say so.
  std::optional<Error> fatal;
  /// Set when kFailed because the server refused this object (403) for a reason of its own;
  /// the record says what to do. ObjectSync stops the job if the first objects are all refused
  /// the same way.
  std::optional<Error> refusal;
  /// rehome replaced its own copy of an older version of the legacy object (re-uploaded in
  /// place since the copy was made).
  bool refreshed = false;
};

/// Looks up the last copy an earlier run wrote for a legacy key (JobState::recorded_copy).
using RecordedCopies =
    std::function<Result<std::optional<RecordedCopy>>(const std::string& legacy_key)>;

const char* to_string(CopyOutcome::Kind kind) noexcept;

/// Adds one copy outcome to the summary (and notes the problems among them).
void count_outcome(Summary& summary, const CopyOutcome& outcome);

/// The longest a copy or transfer of `bytes` may take before it is given up and retried: a
/// minute plus 8 MiB/s. One limit for every size would cut copies of large objects short.
std::chrono::milliseconds transfer_timeout(std::int64_t bytes);

class Copier {
 public:
  using Done = std::function<void(CopyOutcome)>;

  /// Clients must outlive the copier. With `server_side` CopyObject is used (UploadPartCopy
  /// above --multipart-threshold); otherwise each object is read from legacy and written to
  /// production through this process. Multipart uploads are recorded in `uploads`. `recorded`
  /// names the copies earlier runs made (without it, only a copy this run wrote is rehome's).
  Copier(s3::Api& legacy, s3::Api& production, const JobConfig& config, bool server_side,
         RecordedCopies recorded = {}, UploadLedger* uploads = nullptr);

  /// Settles an object whose legacy listing entry and production twin (if any) are known.
  void settle(s3::ObjectInfo legacy, std::optional<s3::ObjectInfo> production, Done done);
  /// Settles an object known only by its legacy key: looks both sides up first.
  void settle_key(std::string legacy_key, Done done);

 private:
  struct Task;
  void refresh_legacy(std::shared_ptr<Task> task);
  void describe_legacy(std::shared_ptr<Task> task, std::function<void()> then);
  void recheck_destination(std::shared_ptr<Task> task);
  void judge_twin(std::shared_ptr<Task> task);
  /// True when `twin` is rehome's own copy: written by this task, or written by an earlier run
  /// and still with that ETag (which then becomes the task's own, as if written by it).
  Result<bool> is_own_copy(Task& task, const s3::ObjectInfo& twin);
  void compare_bytes(std::shared_ptr<Task> task);
  void digest(s3::Api& api, const std::string& bucket, const std::string& key,
              const s3::ObjectInfo& seen, std::function<void(Result<std::string>)> done);
  void fail_or_look_again(std::shared_ptr<Task> task, const Error& error);
  void start_copy(std::shared_ptr<Task> task);
  void copy_server_side(std::shared_ptr<Task> task, bool mark);
  void copy_streamed(std::shared_ptr<Task> task);
  void copy_by_parts(std::shared_ptr<Task> task);
  void copied_by_streamer(std::shared_ptr<Task> task, Result<StreamedResult> copied);
  StreamedWrite streamed_write(const Task& task);
  void check_copy(std::shared_ptr<Task> task, s3::ObjectInfo written);
  std::string twin_uri(const Task& task) const;
  /// --max-streamed-object allows streaming (or reading to compare) this many bytes.
  bool within_stream_limit(std::int64_t bytes) const;
  /// The headers a marked copy sends instead of the source's (metadata directive REPLACE):
  /// the source's own, plus rehome's mark naming the source's ETag.
  static http::Headers carried_headers(const s3::ObjectInfo& legacy);
  void finish(std::shared_ptr<Task> task, CopyOutcome::Kind kind, std::string detail = {},
              std::optional<Error> fatal = std::nullopt);
  void fail(std::shared_ptr<Task> task, const Error& error);

  s3::Api& legacy_;
  s3::Api& production_;
  const JobConfig& config_;
  RecordedCopies recorded_;
  KeyMap map_;
  bool server_side_;
  // Bodies streamed through this process share one budget of memory (streamed_copy.h).
  ByteBudget budget_;
  StreamedCopy streamer_;
  // Set once either bucket shows ETags that are not MD5s (SSE-KMS, SSE-C): from then on every
  // server-side copy carries rehome's mark, so a rerun can recognise it without a record.
  bool mark_copies_ = false;
};

}  // namespace rehome::engine
