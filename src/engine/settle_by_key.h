// Settling objects known only by their legacy keys, a few at a time, outside the listing: the
// objects earlier runs left as conflict or failed (ObjectSync, before it lists), and those the
// row phase finds named by rows but never listed (RowSync). Each is looked up on both sides,
// copied when needed, counted, and recorded at once.
#pragma once

#include <string>
#include <vector>

#include "engine/context.h"
#include "util/result.h"

namespace rehome::engine {

/// Settles `keys`, counts the outcomes and records them. Drives the loop until every key is
/// settled; returns the first job-fatal error, or a recording failure.
Status settle_and_record(Context& ctx, const std::vector<std::string>& keys);

}  // namespace rehome::engine
