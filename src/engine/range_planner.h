// Plans a parallel listing: finds the first key after start-after and estimates the last key
// of the prefix with a few ListObjectsV2 probes of one key each, then cuts the listing into
// key ranges (key_ranges.h). S3 cannot list backwards, so the last key is found byte by byte:
// "the first key after P + b" tells whether any key continues P with a byte >= b, and which.
// The probes run on the event loop, several at once per step.
//
// The estimate only decides the balance between ranges, never which keys are listed: the
// ranges cover everything after start-after whatever the probes found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/key_ranges.h"
#include "s3/api.h"

namespace rehome::engine {

struct RangePlanRequest {
  std::string bucket;
  std::string prefix;
  std::string start_after;  ///< The listing's own start ("" = from the first key).
  std::size_t ranges = 8;   ///< How many ranges are wanted (fewer may come back).
  /// Bytes of the last key resolved past where it parts from the first key: two give the
  /// splitter 65,536 steps between them, plenty for a few dozen ranges.
  std::size_t depth = 2;
  std::size_t max_probes = 96;  ///< Hard cap on requests; past it the estimate stays coarser.
  std::size_t fanout = 7;       ///< Probes in flight at once while narrowing one byte.
};

struct RangePlan {
  std::vector<KeyRange> ranges;  ///< In key order; together they cover the whole listing.
  std::string first;             ///< The first key after start_after ("" = the listing is empty).
  std::string last_estimate;     ///< The largest key the probes met (a real key, or "").
  std::uint64_t probes = 0;      ///< ListObjectsV2 requests made (retries not counted).
};

using RangePlanCallback = std::function<void(Result<RangePlan>)>;

/// Plans `request.ranges` ranges of the listing on `client`'s loop; `done` runs once, on the
/// loop, with the plan or the first probe's error. `client` must outlive the planning.
void plan_key_ranges(s3::Api& client, RangePlanRequest request, RangePlanCallback done);

}  // namespace rehome::engine
