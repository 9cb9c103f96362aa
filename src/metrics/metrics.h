// The process's metrics in Prometheus's text format, served at /metrics when
// --metrics-address asks (through prometheus-cpp: its registry, and its exposer's small HTTP
// server on threads of its own). What it holds comes two ways:
// - each S3 request, as it happens: the s3::Client tells its observer (this class) on the
//   loop's thread;
// - the totals a command keeps (objects by outcome, rows rewritten, the job's ranges, the rate
//   limits), copied in by the command at each progress tick: counters only ever advance to the
//   total they are given, so a scrape never sees one go down within a process.
// Counters start at zero with each process: a restarted worker's fall back, which Prometheus's
// rate() and increase() take as a reset. The job's own totals across workers and restarts are
// `rehome status`'s.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "s3/observer.h"
#include "util/result.h"

namespace prometheus {
class Counter;
class Exposer;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace rehome::metrics {

/// Checks a --metrics-address: "HOST:PORT" ("127.0.0.1:9464", "0.0.0.0:9464", a host name) or
/// ":PORT" for every IPv4 interface; port 0 picks a free one. IPv4 only. The error says what
/// is wrong.
Status check_address(std::string_view address);

class Metrics final : public s3::RequestObserver {
 public:
  /// Metrics kept but not served (no --metrics-address; tests read them with text()).
  Metrics();
  /// Serves /metrics at `address` (check_address's form) from now on.
  static Result<std::unique_ptr<Metrics>> serve(const std::string& address);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// The port it serves on (the one picked for port 0); 0 when not served.
  int port() const;
  /// True once something scraped /metrics.
  bool scraped() const;
  /// Waits, at most `patience`, for a scrape that begins after this call, so that the totals
  /// set last are read before the process exits. False when none came.
  bool await_scrape(std::chrono::milliseconds patience) const;
  /// Everything, in the text format a scrape reads.
  std::string text() const;

  // s3::RequestObserver: rehome_requests_total, rehome_request_duration_seconds,
  // rehome_requests_in_flight, rehome_throttled_total, rehome_retries_total.
  void sent(std::string_view operation) override;
  void answered(std::string_view operation, int status,
                std::chrono::duration<double> took) override;
  void throttled(std::string_view operation) override;
  void retried(std::string_view operation) override;
  void abandoned(std::string_view operation) override;

  /// rehome_job_info{job, version, worker} 1 (`worker`: its id, or "cleanup").
  void set_info(const std::string& job, const std::string& version, const std::string& worker);
  /// rehome_objects_total{outcome}: `outcome` in snake_case ("copied", "already_copied"...).
  void set_objects(const std::string& outcome, std::uint64_t total);
  /// rehome_rows_rewritten_total.
  void set_rows_rewritten(std::uint64_t total);
  /// rehome_ranges{kind, state}: the job's ranges ("keys" or "rows"; "done", "claimed",
  /// "waiting"), as every worker of the job sees them.
  void set_ranges(const std::string& kind, const std::string& state, std::uint64_t count);
  /// rehome_rate_limit_per_second{endpoint}: the rate controller's limit at "legacy" or
  /// "production" (0: none: not throttled, no --max-rps).
  void set_rate_limit(const std::string& endpoint, double per_second);

 private:
  struct PerOperation {
    prometheus::Histogram* duration = nullptr;
    std::map<int, prometheus::Counter*> by_status;
  };
  PerOperation& operation(std::string_view name);  // with mutex_ held

  class ScrapeWatch;  // the registry as the exposer collects it, counting scrapes

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ScrapeWatch> watch_;
  prometheus::Family<prometheus::Counter>* objects_;
  prometheus::Counter* rows_rewritten_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Counter* retries_;
  prometheus::Counter* throttled_;
  prometheus::Gauge* in_flight_;
  prometheus::Family<prometheus::Histogram>* durations_;
  prometheus::Family<prometheus::Gauge>* ranges_;
  prometheus::Family<prometheus::Gauge>* rate_limit_;
  prometheus::Family<prometheus::Gauge>* info_;

  // The labelled children looked up once: a Family's own lookup builds a label map.
  std::mutex mutex_;
  std::map<std::string, PerOperation, std::less<>> operations_;
  std::unique_ptr<prometheus::Exposer> exposer_;  // Last: serves only what exists.
};

}  // namespace rehome::metrics
