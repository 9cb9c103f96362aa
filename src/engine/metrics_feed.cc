#include "engine/metrics_feed.h"

namespace rehome::engine {

void feed_metrics(metrics::Metrics& metrics, const Summary& summary, const S3Services& s3,
                  const std::optional<JobRanges>& ranges) {
  // Every outcome of the command, zeros included: a dashboard's query finds the series from
  // the first scrape, and a rate of 0 is shown as 0, not as no data.
  if (summary.command == Command::kCleanup) {
    metrics.set_objects("deleted", summary.objects_deleted);
    metrics.set_objects("kept", summary.objects_kept);
  } else {
    metrics.set_objects("copied", summary.objects_copied);
    metrics.set_objects("already_copied", summary.objects_already_copied);
    metrics.set_objects("conflict", summary.objects_conflict);
    metrics.set_objects("missing", summary.objects_missing);
    metrics.set_objects("failed", summary.objects_failed);
    metrics.set_rows_rewritten(summary.rows_rewritten);
  }
  if (ranges) {
    for (const auto& [kind, counts] : {std::pair{"keys", ranges->keys}, {"rows", ranges->rows}}) {
      metrics.set_ranges(kind, "done", counts.done);
      metrics.set_ranges(kind, "claimed", counts.claimed);
      metrics.set_ranges(kind, "waiting", counts.waiting);
    }
  }
  metrics.set_rate_limit("legacy", s3.legacy_pacer->stats().current_rps_limit);
  metrics.set_rate_limit("production", s3.production_pacer().stats().current_rps_limit);
}

}  // namespace rehome::engine
