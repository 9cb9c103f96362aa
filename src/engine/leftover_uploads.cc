#include "engine/leftover_uploads.h"

#include <fmt/format.h>

#include "s3/addressing.h"
#include "s3/client.h"

namespace rehome::engine {

Result<LeftoverUploads> abort_leftover_uploads(http::Loop& loop, s3::Api& production,
                                               UploadLedger& ledger, Summary& summary) {
  auto pending = ledger.pending_uploads();
  if (!pending) return pending.error().context("reading the multipart uploads earlier runs left");
  LeftoverUploads out;
  for (const PendingUpload& upload : pending.value()) {
    const std::string uri = s3::s3_uri(upload.bucket, upload.key);
    if (upload.upload_id.empty()) {
      ++out.unnamed;
      summary.note_problem(fmt::format(
          "{}: a multipart upload started at {} by a run killed before S3 named it holds no "
          "parts and is left alone (it cannot be told from another's); a lifecycle rule with "
          "AbortIncompleteMultipartUpload removes it",
          uri, upload.started_at));
      if (auto st = ledger.upload_closed(upload.entry); !st) return st.error();
      continue;
    }
    auto aborted = s3::run_to_completion<Ok>(loop, [&](s3::Callback<Ok> done) {
      production.abort_multipart_upload(upload.bucket, upload.key, upload.upload_id,
                                        std::move(done));
    });
    // NoSuchUpload: completed or aborted already (by the run that was killed, or by a
    // lifecycle rule): nothing left to do.
    if (!aborted && aborted.error().http_status != 404) {
      ++out.failed;
      summary.note_problem(fmt::format(
          "{}: the multipart upload {} an earlier run left could not be aborted ({}); the next "
          "run tries again",
          uri, upload.upload_id, aborted.error().message));
      continue;
    }
    ++out.aborted;
    if (auto st = ledger.upload_closed(upload.entry); !st) return st.error();
  }
  summary.uploads_aborted = out.aborted;
  summary.uploads_unnamed = out.unnamed;
  return out;
}

}  // namespace rehome::engine
