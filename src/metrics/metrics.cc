#include "metrics/metrics.h"

#include <fmt/format.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <sstream>
#include <vector>

namespace rehome::metrics {

namespace {

// Seconds from a HEAD on loopback (milliseconds) to a multipart part or a CopyObject of
// gigabytes across regions (a minute or more).
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

// Moves a counter on to `total`; never back (a command's totals only grow).
void advance(prometheus::Counter& counter, double total) {
  const double now = counter.Value();
  if (total > now) counter.Increment(total - now);
}

// The address civetweb listens on for ours: ":PORT" (every IPv4 interface) is civetweb's "PORT".
std::string civetweb_address(const std::string& address) {
  return address.starts_with(':') ? address.substr(1) : address;
}

}  // namespace

// Collects the registry for the exposer, counting scrapes begun and complete: a scrape that
// began after a wait began reads everything set before it.
class Metrics::ScrapeWatch final : public prometheus::Collectable {
 public:
  explicit ScrapeWatch(std::shared_ptr<prometheus::Registry> registry)
      : registry_(std::move(registry)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::uint64_t begun = 0;
    {
      std::lock_guard lock(mutex_);
      begun = ++begun_;
    }
    auto families = registry_->Collect();
    {
      std::lock_guard lock(mutex_);
      complete_ = std::max(complete_, begun);
    }
    done_.notify_all();
    return families;
  }

  bool scraped() const {
    std::lock_guard lock(mutex_);
    return complete_ > 0;
  }

  bool await_next(std::chrono::milliseconds patience) const {
    std::unique_lock lock(mutex_);
    const std::uint64_t after = begun_;
    return done_.wait_for(lock, patience, [&] { return complete_ > after; });
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mutex_;
  mutable std::condition_variable done_;
  mutable std::uint64_t begun_ = 0;
  mutable std::uint64_t complete_ = 0;
};

Status check_address(std::string_view address) {
  auto bad = [&](std::string_view why) -> Status {
    return Error::invalid_input(fmt::format(
        "--metrics-address \"{}\": {}; give HOST:PORT, such as 127.0.0.1:9464, or :9464 "
        "(every IPv4 interface)",
        address, why));
  };
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  const std::string_view host = address.substr(0, colon);
  const std::string_view port = address.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
    return bad("the port is not a number from 0 to 65535");
  }
  // Debian's civetweb (under prometheus-cpp) is built without IPv6: say so now, rather than
  // let it fail to bind with "null context".
  if (host.starts_with('[') || host.find(':') != std::string_view::npos) {
    return bad("the metrics server listens on IPv4 only (Debian's civetweb has no IPv6)");
  }
  // civetweb reads a comma as a list of addresses; one is all rehome serves on.
  if (host.find(',') != std::string_view::npos) return bad("one address only");
  return Ok{};
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  objects_ = &prometheus::BuildCounter()
                  .Name("rehome_objects_total")
                  .Help("Legacy objects settled by this process, by outcome")
                  .Register(r);
  rows_rewritten_ = &prometheus::BuildCounter()
                         .Name("rehome_rows_rewritten_total")
                         .Help("Rows rewritten to the production prefix by this process")
                         .Register(r)
                         .Add({});
  requests_ = &prometheus::BuildCounter()
                   .Name("rehome_requests_total")
                   .Help("S3 requests answered, by operation and HTTP status (0: no answer)")
                   .Register(r);
  retries_ = &prometheus::BuildCounter()
                  .Name("rehome_retries_total")
                  .Help("S3 requests sent again after a retryable failure")
                  .Register(r)
                  .Add({});
  throttled_ = &prometheus::BuildCounter()
                    .Name("rehome_throttled_total")
                    .Help("S3 answers that throttled (503 SlowDown, 429...)")
                    .Register(r)
                    .Add({});
  in_flight_ = &prometheus::BuildGauge()
                    .Name("rehome_requests_in_flight")
                    .Help("S3 requests sent and not yet answered")
                    .Register(r)
                    .Add({});
  durations_ = &prometheus::BuildHistogram()
                    .Name("rehome_request_duration_seconds")
                    .Help("Time from sending an S3 request to its answer, by operation")
                    .Register(r);
  ranges_ = &prometheus::BuildGauge()
                 .Name("rehome_ranges")
                 .Help(
                     "The job's key ranges (kind=keys) and primary-key ranges of its round "
                     "(kind=rows), by state; the same on every worker of the job")
                 .Register(r);
  rate_limit_ = &prometheus::BuildGauge()
                     .Name("rehome_rate_limit_per_second")
                     .Help(
                         "The rate controller's limit on requests per second, by endpoint "
                         "(0: no limit: not throttled, no --max-rps)")
                     .Register(r);
  info_ = &prometheus::BuildGauge()
               .Name("rehome_job_info")
               .Help("The job this process works on, its version and its worker id")
               .Register(r);
}

Result<std::unique_ptr<Metrics>> Metrics::serve(const std::string& address) {
  if (auto st = check_address(address); !st) return st.error();
  auto metrics = std::make_unique<Metrics>();
  try {
    // Two threads: a scrape is served while another waits, never on rehome's own threads.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(civetweb_address(address), 2);
  } catch (const std::exception& e) {
    return Error::invalid_input(
        fmt::format("cannot serve metrics at {}: {} (the port may be in use, or the host not an "
                    "address of this machine): choose another --metrics-address",
                    address, e.what()));
  }
  metrics->watch_ = std::make_shared<ScrapeWatch>(metrics->registry_);
  metrics->exposer_->RegisterCollectable(metrics->watch_);
  return metrics;
}

Metrics::~Metrics() = default;

int Metrics::port() const {
  if (!exposer_) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

bool Metrics::scraped() const { return watch_ && watch_->scraped(); }

bool Metrics::await_scrape(std::chrono::milliseconds patience) const {
  return watch_ && watch_->await_next(patience);
}

std::string Metrics::text() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

Metrics::PerOperation& Metrics::operation(std::string_view name) {
  auto it = operations_.find(name);
  if (it != operations_.end()) return it->second;
  PerOperation& made = operations_[std::string(name)];
  made.duration = &durations_->Add({{"operation", std::string(name)}}, kDurationBuckets);
  return made;
}

void Metrics::sent(std::string_view) { in_flight_->Increment(); }

void Metrics::answered(std::string_view operation_name, int status,
                       std::chrono::duration<double> took) {
  in_flight_->Decrement();
  std::lock_guard lock(mutex_);
  PerOperation& op = operation(operation_name);
  op.duration->Observe(took.count());
  prometheus::Counter*& counter = op.by_status[status];
  if (!counter) {
    counter = &requests_->Add(
        {{"operation", std::string(operation_name)}, {"status", std::to_string(status)}});
  }
  counter->Increment();
}

void Metrics::throttled(std::string_view) { throttled_->Increment(); }

void Metrics::retried(std::string_view) { retries_->Increment(); }

void Metrics::abandoned(std::string_view) { in_flight_->Decrement(); }

void Metrics::set_info(const std::string& job, const std::string& version,
                       const std::string& worker) {
  info_->Add({{"job", job}, {"version", version}, {"worker", worker}}).Set(1);
}

void Metrics::set_objects(const std::string& outcome, std::uint64_t total) {
  advance(objects_->Add({{"outcome", outcome}}), static_cast<double>(total));
}

void Metrics::set_rows_rewritten(std::uint64_t total) {
  advance(*rows_rewritten_, static_cast<double>(total));
}

void Metrics::set_ranges(const std::string& kind, const std::string& state, std::uint64_t count) {
  ranges_->Add({{"kind", kind}, {"state", state}}).Set(static_cast<double>(count));
}

void Metrics::set_rate_limit(const std::string& endpoint, double per_second) {
  rate_limit_->Add({{"endpoint", endpoint}}).Set(per_second);
}

}  // namespace rehome::metrics
