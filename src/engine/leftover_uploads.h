// The multipart uploads an earlier run started and a kill left open (upload_ledger.h): aborted
// at the start of the next run, before any new copy, so their parts stop costing storage.
// Only the uploads the ledger names are touched; the application's never are.
#pragma once

#include <cstdint>

#include "engine/summary.h"
#include "engine/upload_ledger.h"
#include "http/loop.h"
#include "s3/api.h"
#include "util/result.h"

namespace rehome::engine {

struct LeftoverUploads {
  std::uint64_t aborted = 0;  ///< Aborted now (or found already gone).
  /// Recorded but never named by S3 (killed between the record and the server's answer): they
  /// hold no parts and cannot be told from another's upload to the same key, so they are
  /// reported (with their key) and left to a lifecycle rule.
  std::uint64_t unnamed = 0;
  std::uint64_t failed = 0;  ///< Could not be aborted now: kept for the next run.
};

/// Aborts every upload `ledger` holds that was started at `endpoint` (in `production`, on
/// `loop`, one at a time: there are at most a few), closing each entry once aborted. One that
/// cannot be aborted now, or was started at another endpoint, is kept and counted as failed
/// (the run is then incomplete: exit 3), with what to do in `summary`. Fails only when the
/// ledger cannot be read.
Result<LeftoverUploads> abort_leftover_uploads(http::Loop& loop, s3::Api& production,
                                               const std::string& endpoint, UploadLedger& ledger,
                                               Summary& summary);

}  // namespace rehome::engine
