// Deleting the legacy objects cleanup judged safe, with its last check as close to the delete as
// it can be: the rows are asked again right before every attempt of the request, and the
// retries are made here (the client given must not retry), so the window in which a row
// written meanwhile could name a deleted object is one request, not the minutes a retried
// request can take. Each key carries the ETag it was judged by, as the delete's condition
// (AWS keeps an object rewritten since; radosgw 16 ignores the condition).
#pragma once

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/summary.h"
#include "http/loop.h"
#include "s3/api.h"
#include "s3/retry.h"
#include "util/result.h"

namespace rehome::engine {

class LegacyDelete {
 public:
  /// Of the targets, those no row names now.
  using Unreferenced =
      std::function<Result<std::vector<s3::DeleteTarget>>(std::vector<s3::DeleteTarget>)>;

  /// `api` must not retry by itself (s3::RetryPolicy{.max_attempts = 1}); deletions and the
  /// objects kept are counted in `summary`.
  LegacyDelete(s3::Api& api, http::Loop& loop, std::string bucket, Unreferenced unreferenced,
               Summary& summary);

  /// Deletes up to 1,000 targets: keys an XML document can carry in one DeleteObjects, the
  /// others (a control character) one by one. Returns a job-fatal error (the database, or a
  /// delete that keeps failing); a key the server refuses is counted as kept and named.
  Status run(std::vector<s3::DeleteTarget> targets);

 private:
  Status delete_alone(const s3::DeleteTarget& target);
  Status delete_together(std::vector<s3::DeleteTarget> targets);
  void pause(std::chrono::milliseconds delay);

  s3::Api& api_;
  http::Loop& loop_;
  std::string bucket_;
  Unreferenced unreferenced_;
  Summary& summary_;
  s3::RetryPolicy retry_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace rehome::engine
