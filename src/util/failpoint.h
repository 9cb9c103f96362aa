// Crash points for the kill tests: `REHOME_FAILPOINT=<name>` makes the process SIGKILL itself
// when it reaches failpoint("<name>"), so a test can stop it at an exact instant (between an
// UPDATE and its COMMIT, say) instead of hoping a random kill lands there. Unset, a failpoint
// costs one comparison.
#pragma once

#include <string_view>

namespace rehome {

/// Kills the process with SIGKILL when REHOME_FAILPOINT names this point.
void failpoint(std::string_view name) noexcept;

}  // namespace rehome
