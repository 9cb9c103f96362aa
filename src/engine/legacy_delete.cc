#include "engine/legacy_delete.h"

#include <fmt/format.h>

#include "s3/client.h"
#include "s3/xml.h"
#include "util/failpoint.h"

namespace rehome::engine {

LegacyDelete::LegacyDelete(s3::Api& api, http::Loop& loop, std::string bucket,
                           Unreferenced unreferenced, Summary& summary)
    : api_(api),
      loop_(loop),
      bucket_(std::move(bucket)),
      unreferenced_(std::move(unreferenced)),
      summary_(summary) {}

Status LegacyDelete::run(std::vector<s3::DeleteTarget> targets) {
  // A key XML 1.0 cannot carry (a control character) would make the whole DeleteObjects
  // document malformed, on every run: such keys go one by one, named in the URL.
  std::vector<s3::DeleteTarget> together;
  for (auto& target : targets) {
    if (s3::xml_can_carry(target.key)) {
      together.push_back(std::move(target));
    } else if (auto st = delete_alone(target); !st) {
      return st;
    }
  }
  if (together.empty()) return Ok{};
  return delete_together(std::move(together));
}

void LegacyDelete::pause(std::chrono::milliseconds delay) {
  bool woke = false;
  loop_.after(delay, [&] { woke = true; });
  while (!woke) loop_.run();
}

Status LegacyDelete::delete_alone(const s3::DeleteTarget& target) {
  for (int attempt = 1;; ++attempt) {
    auto now = unreferenced_({target});
    if (!now) return now.error();
    if (now->empty()) {
      ++summary_.objects_kept;
      return Ok{};
    }
    auto one = s3::run_to_completion<Ok>(
        loop_, [&](auto done) { api_.delete_object(bucket_, target, done); });
    if (one) {
      ++summary_.objects_deleted;
      return Ok{};
    }
    if (!s3::should_retry(retry_, one.error().kind, attempt)) {
      ++summary_.objects_kept;
      summary_.note_problem(
          fmt::format("kept s3://{}/{}: {}", bucket_, target.key, one.error().message));
      return Ok{};
    }
    pause(s3::backoff_delay(retry_, attempt, one.error().retry_after_ms, rng_));
  }
}

Status LegacyDelete::delete_together(std::vector<s3::DeleteTarget> targets) {
  for (int attempt = 1;; ++attempt) {
    auto now = unreferenced_(targets);
    if (!now) return now.error();
    summary_.objects_kept += targets.size() - now->size();
    targets = std::move(now.value());
    if (targets.empty()) return Ok{};
    failpoint("cleanup-before-delete");
    auto result = s3::run_to_completion<s3::DeleteResult>(
        loop_, [&](auto done) { api_.delete_objects(bucket_, targets, done); });
    if (result) {
      summary_.objects_deleted += result->deleted.size();
      for (const auto& e : result->errors) {
        // A failed condition among them: the object changed after it was judged (AWS).
        ++summary_.objects_kept;
        summary_.note_problem(
            fmt::format("kept s3://{}/{}: {} {}", bucket_, e.key, e.code, e.message));
      }
      return Ok{};
    }
    if (!s3::should_retry(retry_, result.error().kind, attempt)) return result.error();
    pause(s3::backoff_delay(retry_, attempt, result.error().retry_after_ms, rng_));
  }
}

}  // namespace rehome::engine
