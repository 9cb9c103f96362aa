// What a command's totals mean as metrics (metrics/metrics.h): the summary's counts copied in
// at each progress tick, with the job's ranges and the rate controllers' limits.
#pragma once

#include <optional>

#include "engine/claim_store.h"
#include "engine/services.h"
#include "engine/summary.h"
#include "metrics/metrics.h"

namespace rehome::engine {

/// rehome_objects_total{outcome} (run: copied, already_copied, conflict, missing, failed;
/// cleanup: deleted, kept), rehome_rows_rewritten_total, rehome_ranges{kind,state} (when
/// counted), rehome_rate_limit_per_second{endpoint}.
void feed_metrics(metrics::Metrics& metrics, const Summary& summary, const S3Services& s3,
                  const std::optional<JobRanges>& ranges);

}  // namespace rehome::engine
