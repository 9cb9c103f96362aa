// The live progress of a run: one rewritten line on a terminal, JSON lines otherwise (for
// log collectors). Refreshed at most a few times a second, whatever calls it.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>

#include "engine/summary.h"

namespace rehome::engine {

class Progress {
 public:
  /// `refresh` brings the summary's request counters up to date before each report.
  Progress(std::FILE* out, bool terminal, const Summary& summary, std::function<void()> refresh);

  /// Prints a line if one is due.
  void report(const char* phase);
  /// Ends the terminal line so the summary starts on a fresh one.
  void finish();

 private:
  std::FILE* out_;
  bool terminal_;
  const Summary& summary_;
  std::function<void()> refresh_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_;
  bool printed_ = false;
};

}  // namespace rehome::engine
