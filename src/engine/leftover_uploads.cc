#include "engine/leftover_uploads.h"

#include <fmt/format.h>

#include "s3/addressing.h"
#include "s3/client.h"

namespace rehome::engine {

Result<LeftoverUploads> abort_leftover_uploads(http::Loop& loop, s3::Api& production,
                                               const std::string& endpoint, UploadLedger& ledger,
                                               Summary& summary) {
  auto pending = ledger.pending_uploads();
  if (!pending) return pending.error().context("reading the multipart uploads earlier runs left");
  LeftoverUploads out;
  for (const PendingUpload& upload : pending.value()) {
    const std::string uri = s3::s3_uri(upload.bucket, upload.key);
    if (upload.upload_id.empty()) {
      ++out.unnamed;
      summary.note_problem(fmt::format(
          "{}: a multipart upload a killed run may have started at {} was never named by S3 "
          "to rehome; if it exists it holds no parts and is left alone (it cannot be told from "
          "another's): a lifecycle rule with AbortIncompleteMultipartUpload removes it",
          uri, upload.started_at));
      if (auto st = ledger.upload_closed(upload.entry); !st) return st.error();
      continue;
    }
    if (upload.endpoint != endpoint) {
      ++out.failed;
      summary.note_problem(fmt::format(
          "{}: the multipart upload {} a killed run left was started at {}, not at this run's "
          "endpoint {}: abort it there (s3api abort-multipart-upload), or let a lifecycle rule; "
          "then delete its row from the uploads table of the bookkeeping schema",
          uri, upload.upload_id, upload.endpoint, endpoint));
      continue;
    }
    // The client answers NoSuchUpload (completed or aborted already, by the run that was
    // killed or by a lifecycle rule) as done.
    auto aborted = s3::run_to_completion<Ok>(loop, [&](s3::Callback<Ok> done) {
      production.abort_multipart_upload(upload.bucket, upload.key, upload.upload_id,
                                        std::move(done));
    });
    if (!aborted) {
      ++out.failed;
      summary.note_problem(fmt::format(
          "{}: the multipart upload {} a killed run left could not be aborted ({}); its parts "
          "are billed until it is: the next run tries again",
          uri, upload.upload_id, aborted.error().message));
      continue;
    }
    ++out.aborted;
    if (auto st = ledger.upload_closed(upload.entry); !st) return st.error();
  }
  summary.uploads_aborted = out.aborted;
  summary.uploads_unnamed = out.unnamed;
  summary.uploads_failed = out.failed;
  return out;
}

}  // namespace rehome::engine
