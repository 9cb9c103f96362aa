// The multipart uploads rehome starts, written down before their first part. An upload that
// neither completes nor is aborted keeps its parts (and costs their storage) forever; a run
// killed in the middle of one cannot abort it, so the next run does, by the UploadId recorded
// here. Only uploads recorded here are ever aborted: the application may be uploading to the
// same bucket, even to the same key, and its uploads are never touched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace rehome::engine {

/// An upload recorded and not yet closed.
struct PendingUpload {
  std::int64_t entry = 0;
  std::string endpoint;  ///< Where it was started (an upload id means nothing elsewhere).
  std::string bucket;
  std::string key;
  /// Empty when the run was killed after recording its intent but before S3 named the upload:
  /// such an upload holds no part (parts come only after the id is recorded), and cannot be
  /// told from another's, so it is reported and left to a lifecycle rule.
  std::string upload_id;
  std::string started_at;  ///< ISO 8601, for messages.
};

class UploadLedger {
 public:
  virtual ~UploadLedger() = default;
  /// Before CreateMultipartUpload: the entry to name it by.
  virtual Result<std::int64_t> upload_opening(const std::string& bucket,
                                              const std::string& key) = 0;
  /// The server named the upload: recorded before its first part is sent.
  virtual Status upload_opened(std::int64_t entry, const std::string& upload_id) = 0;
  /// Completed or aborted: nothing left to clean up.
  virtual Status upload_closed(std::int64_t entry) = 0;
  /// Uploads an earlier run (or this one, so far) left open, oldest first.
  virtual Result<std::vector<PendingUpload>> pending_uploads() = 0;
};

}  // namespace rehome::engine
