// The services one run works with, gathered so phases take one argument instead of eight.
// Everything here is owned by the caller (engine/run.cc) and outlives the phases. The S3 sides
// and the job's state are interfaces: the unit tests run the phases on in-tree fakes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/copier.h"
#include "engine/job_state.h"
#include "engine/summary.h"
#include "http/loop.h"
#include "s3/api.h"

namespace rehome::engine {

struct Context {
  const JobConfig& config;
  http::Loop& loop;
  s3::Api& legacy;
  s3::Api& production;
  Copier& copier;
  JobState& state;
  Summary& summary;
  /// True once SIGINT/SIGTERM asked the run to stop: no new work starts, work in flight ends.
  std::function<bool()> stop_requested;
  /// Called now and then so the progress line can refresh; cheap when nothing is due.
  std::function<void(const char* phase)> report_progress;
  /// Requests the S3 side allows in flight now (the pacers' adaptive caps); objects in flight
  /// follow it. Empty: --concurrency, else the pacer's starting cap.
  std::function<std::size_t()> request_slots = {};
};

}  // namespace rehome::engine
