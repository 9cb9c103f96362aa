// The four things rehome does, as library calls: the CLI parses flags into a JobConfig and
// calls one of these. Each returns a Summary whose outcome decides the exit status.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>

#include "engine/config.h"
#include "engine/exit_status.h"
#include "engine/summary.h"
#include "metrics/metrics.h"

namespace rehome::engine {

struct CommandHooks {
  std::function<bool()> stop_requested = [] { return false; };
  std::FILE* progress_out = nullptr;  ///< nullptr: no progress output.
  bool progress_terminal = false;     ///< A rewritten line instead of JSON lines.
  /// Where the command's requests and totals are counted for Prometheus (--metrics-address);
  /// nullptr: nowhere.
  metrics::Metrics* metrics = nullptr;
};

/// Copies every legacy object to production and rewrites every legacy row. Deletes nothing.
Summary run(const JobConfig& config, const CommandHooks& hooks);

/// A dry run: writes nothing, counts what run would do.
Summary plan(const JobConfig& config, const CommandHooks& hooks);

/// A read-only audit: does every row name an existing object?
Summary verify(const JobConfig& config, const CommandHooks& hooks);

struct CleanupOptions {
  std::chrono::seconds grace{24 * 3600};
  bool dry_run = false;
};

/// Deletes legacy objects that production holds identically, that no row names (checked just
/// before deleting) and whose last reference was rewritten at least `grace` ago.
Summary cleanup(const JobConfig& config, const CleanupOptions& options, const CommandHooks& hooks);

}  // namespace rehome::engine
