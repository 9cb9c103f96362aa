// How a command's summary becomes the process's exit status (documented in README.md), and how
// `run` judges its own outcome from what it counted: pure functions, table-tested.
#pragma once

#include "engine/summary.h"

namespace rehome::engine {

inline constexpr int kExitOk = 0;      ///< Everything done / clean.
inline constexpr int kExitFailed = 1;  ///< A fatal error stopped the command.
inline constexpr int kExitUsage = 2;   ///< Bad flags or configuration.
/// Finished, but conflicts, broken references or failures remain.
inline constexpr int kExitIncomplete = 3;
inline constexpr int kExitDangling = 4;  ///< verify: a row names an object that is missing.
/// status: the job's round is under way (or was stopped before it finished).
inline constexpr int kExitUnderWay = 5;
inline constexpr int kExitInterrupted = 130;  ///< Stopped by SIGINT/SIGTERM; rerun to finish.

/// The exit status a summary calls for.
int exit_status(const Summary& summary);

/// The outcome of a `run` that got to its end: interrupted when a stop was asked for, complete
/// when no legacy row is left and no object failed or conflicts, incomplete otherwise.
Outcome run_outcome(const Summary& summary, bool stop_requested);

}  // namespace rehome::engine
