// rehome-list-bench: how much faster a prefix lists as K key ranges listed at once than as one
// sequential listing. Per repeat it lists the prefix sequentially (the engine's Lister, one
// page in flight), then for each K plans K ranges (engine/range_planner.h) and lists them all
// at once on the one loop, each range paging sequentially with its own bounded Lister. With
// --lanes it also lists the way `rehome run` does: K lanes over a plan of 4K ranges, and a
// lane that runs out of ranges splits the busiest one (engine/range_split.h).
//
// Every parallel listing is checked against the sequential one of the same repeat: the ranges'
// keys, concatenated in range order, must be the same keys in the same order, or the tool
// fails. It uses the library's own S3 client, so it measures what the engine would get.
//
// Prints a table on stderr and one JSON line per measurement on stdout (for bench/run), then a
// summary line with the medians and speedups.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "endpoint.h"
#include "engine/lister.h"
#include "engine/range_planner.h"
#include "engine/range_split.h"
#include "http/loop.h"
#include "s3/client.h"
#include "s3/pacer.h"

namespace {

using namespace rehome;
using Clock = std::chrono::steady_clock;
using Keys = std::vector<std::string>;

struct Options {
  std::string bucket = "legacy-s3", prefix = "image/";
  std::string endpoint, region;
  std::vector<std::size_t> ks = {1, 2, 4, 8, 16};
  std::size_t repeats = 3;
  std::size_t depth = 2, max_probes = 96;
  bool oracle = false;
  bool lanes = false;
  double split_min_keys = 2000;  // The engine's default (--split-min-keys).
};

int fail(const std::string& message) {
  fmt::print(stderr, "rehome-list-bench: error: {}\n", message);
  return 1;
}

/// This process's user + system CPU seconds so far.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Wall time, CPU and requests of one measurement, taken around it.
class Meter {
 public:
  explicit Meter(const s3::Client& client)
      : client_(client),
        t0_(Clock::now()),
        cpu0_(cpu_seconds()),
        requests0_(client.stats().requests) {}
  double wall() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  double cpu() const { return cpu_seconds() - cpu0_; }
  std::uint64_t requests() const { return client_.stats().requests - requests0_; }

 private:
  const s3::Client& client_;
  Clock::time_point t0_;
  double cpu0_;
  std::uint64_t requests0_;
};

/// Lists every range at once, one bounded Lister each; returns each range's keys in order.
Result<std::vector<Keys>> list_ranges(s3::Client& client, http::Loop& loop, const Options& o,
                                      const std::vector<engine::KeyRange>& ranges) {
  std::vector<Keys> listed(ranges.size());
  std::vector<std::unique_ptr<engine::Lister>> listers;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    auto drain = [&listers, &listed, i] {
      auto& lister = *listers[i];
      for (; lister.ready() && !lister.exhausted(); lister.pop())
        listed[i].push_back(lister.front().key);
      lister.prefetch();
    };
    listers.push_back(std::make_unique<engine::Lister>(
        client, o.bucket, o.prefix, ranges[i].start_after, drain, ranges[i].last));
  }
  for (auto& lister : listers) lister->prefetch();
  loop.run();
  for (auto& lister : listers) {
    if (lister->error()) return *lister->error();
  }
  return listed;
}

/// Lists the way the engine works a job's ranges: at most k at once, the next one starting as
/// one ends, and when none is left the busiest range is split. Returns the keys in key order
/// and how many splits were made.
Result<std::pair<Keys, std::size_t>> list_in_lanes(s3::Client& client, http::Loop& loop,
                                                   const Options& o,
                                                   const std::vector<engine::KeyRange>& plan,
                                                   std::size_t k) {
  struct Lane {
    std::unique_ptr<engine::Lister> lister;
    Keys* keys = nullptr;
    bool done = false;
  };
  std::map<std::string, Keys> by_start;  // Each range's keys, by its start: key order.
  std::deque<engine::KeyRange> queue(plan.begin(), plan.end());
  std::vector<std::unique_ptr<Lane>>
      lanes;  // Kept to the end: a lister may not die in its callback.
  std::size_t active = 0, splits = 0;
  std::optional<Error> error;
  std::function<void()> fill = [&] {
    while (active < k && !error) {
      if (queue.empty()) {
        std::vector<engine::ListingStand> stands;
        std::vector<Lane*> owners;
        for (auto& lane : lanes) {
          if (lane->done) continue;
          stands.push_back(lane->lister->stand());
          owners.push_back(lane.get());
        }
        auto split = engine::choose_split(stands, o.split_min_keys);
        if (!split) return;
        engine::Lister& donor = *owners[split->index]->lister;
        queue.push_back({split->point, donor.last()});
        donor.lower_last(std::move(split->point));
        ++splits;
      }
      auto lane = std::make_unique<Lane>();
      lane->keys = &by_start[queue.front().start_after];
      Lane* self = lane.get();
      lane->lister = std::make_unique<engine::Lister>(
          client, o.bucket, o.prefix, queue.front().start_after,
          [&, self] {
            engine::Lister& lister = *self->lister;
            if (lister.error() && !error) error = lister.error();
            for (; lister.ready() && !lister.exhausted(); lister.pop())
              self->keys->push_back(lister.front().key);
            lister.prefetch();
            if (lister.exhausted() || lister.error()) {
              self->done = true;
              --active;
            }
            fill();
          },
          queue.front().last);
      queue.pop_front();
      ++active;
      lanes.push_back(std::move(lane));
      self->lister->prefetch();
    }
  };
  fill();
  loop.run();
  if (error) return *error;
  Keys all;
  for (auto& [start, keys] : by_start) all.insert(all.end(), keys.begin(), keys.end());
  return std::pair{std::move(all), splits};
}

Result<Keys> list_sequentially(s3::Client& client, http::Loop& loop, const Options& o) {
  auto listed = list_ranges(client, loop, o, {engine::KeyRange{}});
  if (!listed) return listed.error();
  return std::move(listed->front());
}

/// Where two listings first differ, for the failure message.
std::string first_difference(const Keys& expected, const Keys& got) {
  const std::size_t n = std::min(expected.size(), got.size());
  std::size_t i = 0;
  while (i < n && expected[i] == got[i]) ++i;
  return fmt::format(
      "{} keys expected, {} listed; first difference at #{}: expected '{}', got '{}'",
      expected.size(), got.size(), i, i < expected.size() ? expected[i] : "(end)",
      i < got.size() ? got[i] : "(end)");
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n == 0 ? 0 : n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

class Bench {
 public:
  Bench(s3::Client& client, http::Loop& loop, const Options& o)
      : client_(client), loop_(loop), o_(o) {}

  /// Runs every repeat; returns the exit status.
  int run() {
    for (std::size_t repeat = 0; repeat < o_.repeats; ++repeat) {
      if (int status = sequential(repeat)) return status;
      for (std::size_t k : o_.ks) {
        if (int status = parallel(repeat, k, false)) return status;
        if (o_.oracle && k > 1) {
          if (int status = parallel(repeat, k, true)) return status;
        }
        if (o_.lanes && k > 1) {
          if (int status = in_lanes(repeat, k)) return status;
        }
      }
    }
    summarise();
    return 0;
  }

 private:
  int sequential(std::size_t repeat) {
    Meter meter(client_);
    auto keys = list_sequentially(client_, loop_, o_);
    const double wall = meter.wall(), cpu = meter.cpu();
    if (!keys)
      return fail(
          fmt::format("listing s3://{}/{}: {}", o_.bucket, o_.prefix, keys.error().message));
    if (repeat > 0 && *keys != reference_) {
      return fail(
          "the sequential listing changed between repeats (is something writing to the prefix?): " +
          first_difference(reference_, *keys));
    }
    reference_ = std::move(*keys);
    const double rate = static_cast<double>(reference_.size()) / wall;
    sequential_rate_ = rate;
    sequential_rates_.push_back(rate);
    emit({{"kind", "sequential"},
          {"repeat", repeat},
          {"keys", reference_.size()},
          {"wall_s", wall},
          {"keys_per_s", rate},
          {"requests", meter.requests()},
          {"cpu_s", cpu}});
    fmt::print(
        stderr,
        "repeat {}  sequential: {} keys in {:.3f} s = {:.0f} keys/s, {} requests, cpu {:.3f} s\n",
        repeat, reference_.size(), wall, rate, meter.requests(), cpu);
    return 0;
  }

  /// K ranges holding equal shares of the keys, cut from the sequential listing: what a
  /// perfect planner would give, so the server's parallelism is measured apart from balance.
  engine::RangePlan oracle_plan(std::size_t k) const {
    engine::RangePlan plan;
    std::string after;
    for (std::size_t i = 1; i < k; ++i) {
      const std::string& last = reference_[reference_.size() * i / k];
      if (last <= after) continue;
      plan.ranges.push_back({after, last});
      after = last;
    }
    plan.ranges.push_back({after, ""});
    return plan;
  }

  int parallel(std::size_t repeat, std::size_t k, bool oracle) {
    Meter meter(client_);
    engine::RangePlanRequest request{o_.bucket, o_.prefix, "", k, o_.depth, o_.max_probes};
    Result<engine::RangePlan> plan =
        oracle ? oracle_plan(k) : s3::run_to_completion<engine::RangePlan>(loop_, [&](auto done) {
          engine::plan_key_ranges(client_, request, done);
        });
    if (!plan)
      return fail(fmt::format("planning {} ranges of s3://{}/{}: {}", k, o_.bucket, o_.prefix,
                              plan.error().message));
    const double plan_s = meter.wall();
    auto listed = list_ranges(client_, loop_, o_, plan->ranges);
    const double wall = meter.wall(), cpu = meter.cpu();
    if (!listed) return fail(fmt::format("listing {} ranges: {}", k, listed.error().message));

    Keys all;
    std::vector<std::size_t> sizes;
    for (auto& range : *listed) {
      sizes.push_back(range.size());
      all.insert(all.end(), range.begin(), range.end());
    }
    if (all != reference_) {
      return fail(fmt::format("K={}: the ranges do not list exactly the sequential listing: {}", k,
                              first_difference(reference_, all)));
    }
    const double rate = static_cast<double>(all.size()) / wall;
    const std::uint64_t list_requests = meter.requests() - plan->probes;
    (oracle ? oracle_rates_ : rates_)[k].push_back(rate);
    emit({{"kind", oracle ? "oracle" : "ranges"},
          {"repeat", repeat},
          {"k", k},
          {"ranges", plan->ranges.size()},
          {"keys", all.size()},
          {"wall_s", wall},
          {"plan_s", plan_s},
          {"keys_per_s", rate},
          {"requests", list_requests},
          {"probes", plan->probes},
          {"cpu_s", cpu},
          {"speedup", rate / sequential_rate_},
          {"range_keys", sizes},
          {"last_estimate", plan->last_estimate}});
    fmt::print(
        stderr,
        "repeat {}  K={:<2} ({:>2} ranges{}): {} keys in {:.3f} s (plan {:.3f} s) = {:.0f} keys/s, "
        "{} list requests + {} probes, cpu {:.3f} s, x{:.2f}; largest range {} keys\n",
        repeat, k, plan->ranges.size(), oracle ? ", oracle" : "", all.size(), wall, plan_s, rate,
        list_requests, plan->probes, cpu, rate / sequential_rate_,
        *std::max_element(sizes.begin(), sizes.end()));
    return 0;
  }

  int in_lanes(std::size_t repeat, std::size_t k) {
    Meter meter(client_);
    engine::RangePlanRequest request{o_.bucket, o_.prefix, "", 4 * k, o_.depth, o_.max_probes};
    auto plan = s3::run_to_completion<engine::RangePlan>(
        loop_, [&](auto done) { engine::plan_key_ranges(client_, request, done); });
    if (!plan)
      return fail(fmt::format("planning {} ranges of s3://{}/{}: {}", 4 * k, o_.bucket, o_.prefix,
                              plan.error().message));
    auto listed = list_in_lanes(client_, loop_, o_, plan->ranges, k);
    const double wall = meter.wall(), cpu = meter.cpu();
    if (!listed) return fail(fmt::format("listing in {} lanes: {}", k, listed.error().message));
    if (listed->first != reference_) {
      return fail(fmt::format("{} lanes: the ranges do not list exactly the sequential listing: {}",
                              k, first_difference(reference_, listed->first)));
    }
    const double rate = static_cast<double>(listed->first.size()) / wall;
    lanes_rates_[k].push_back(rate);
    emit({{"kind", "lanes"},
          {"repeat", repeat},
          {"k", k},
          {"planned_ranges", plan->ranges.size()},
          {"splits", listed->second},
          {"keys", listed->first.size()},
          {"wall_s", wall},
          {"keys_per_s", rate},
          {"requests", meter.requests() - plan->probes},
          {"probes", plan->probes},
          {"cpu_s", cpu},
          {"speedup", rate / sequential_rate_}});
    fmt::print(stderr,
               "repeat {}  K={:<2} lanes over {} planned ranges, {} splits: {} keys in {:.3f} s = "
               "{:.0f} keys/s, cpu {:.3f} s, x{:.2f}\n",
               repeat, k, plan->ranges.size(), listed->second, listed->first.size(), wall, rate,
               cpu, rate / sequential_rate_);
    return 0;
  }

  void summarise() {
    const double sequential = median(sequential_rates_);
    nlohmann::json by_k = nlohmann::json::object();
    fmt::print(stderr, "\nmedians of {} repeats, {} keys: sequential {:.0f} keys/s\n", o_.repeats,
               reference_.size(), sequential);
    for (const auto& [k, rates] : rates_) {
      const double rate = median(rates);
      by_k[std::to_string(k)] = {{"keys_per_s", rate}, {"speedup", rate / sequential}};
      fmt::print(stderr, "  K={:<2}  {:>8.0f} keys/s  x{:.2f}\n", k, rate, rate / sequential);
    }
    nlohmann::json oracle_by_k = nlohmann::json::object();
    for (const auto& [k, rates] : oracle_rates_) {
      const double rate = median(rates);
      oracle_by_k[std::to_string(k)] = {{"keys_per_s", rate}, {"speedup", rate / sequential}};
      fmt::print(stderr, "  K={:<2}  {:>8.0f} keys/s  x{:.2f}  (oracle: equal shares)\n", k, rate,
                 rate / sequential);
    }
    nlohmann::json lanes_by_k = nlohmann::json::object();
    for (const auto& [k, rates] : lanes_rates_) {
      const double rate = median(rates);
      lanes_by_k[std::to_string(k)] = {{"keys_per_s", rate}, {"speedup", rate / sequential}};
      fmt::print(stderr,
                 "  K={:<2}  {:>8.0f} keys/s  x{:.2f}  (lanes with splitting, as the engine)\n", k,
                 rate, rate / sequential);
    }
    emit({{"kind", "summary"},
          {"keys", reference_.size()},
          {"repeats", o_.repeats},
          {"sequential_keys_per_s", sequential},
          {"by_k", by_k},
          {"oracle_by_k", oracle_by_k},
          {"lanes_by_k", lanes_by_k}});
  }

  static void emit(const nlohmann::json& line) {
    fmt::print("{}\n", line.dump());
    std::fflush(stdout);
  }

  s3::Client& client_;
  http::Loop& loop_;
  const Options& o_;
  Keys reference_;
  double sequential_rate_ = 0;
  std::vector<double> sequential_rates_;
  std::map<std::size_t, std::vector<double>> rates_;
  std::map<std::size_t, std::vector<double>> oracle_rates_;
  std::map<std::size_t, std::vector<double>> lanes_rates_;
};

int measure(const Options& o) {
  auto config = bench::client_config(o.endpoint, o.region);
  if (!config) return fail(config.error().message);
  const std::size_t widest = *std::max_element(o.ks.begin(), o.ks.end());
  // Lanes plan 4K ranges: the planner's probes are capped by max_probes either way.
  http::LoopOptions loop_options;
  loop_options.max_connections = static_cast<long>(widest + o.max_probes + 8);
  http::Loop loop(loop_options);
  // Room for every range's page plus a planning round: the pacer must not be what limits K.
  s3::Pacer pacer(loop, s3::PacerOptions{.max_in_flight = widest + o.max_probes});
  s3::Client client(loop, pacer, *config);
  return Bench(client, loop, o).run();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "rehome-list-bench: list a prefix sequentially, then as K key ranges at once; "
      "checks the ranges list exactly the same keys and prints keys/s and speedups."};
  Options o;
  app.add_option("--bucket", o.bucket, "Bucket")->capture_default_str();
  app.add_option("--prefix", o.prefix, "Prefix")->capture_default_str();
  app.add_option("--ranges", o.ks, "Values of K (ranges listed at once), e.g. 1,2,4,8,16")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--repeats", o.repeats, "Repeats of every measurement")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--depth", o.depth, "Planner: bytes of the last key resolved past the first key")
      ->capture_default_str();
  app.add_option("--max-probes", o.max_probes, "Planner: most probe requests")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_flag("--oracle", o.oracle,
               "Also list K ranges of equal shares cut from the sequential listing (server "
               "parallelism apart from balance)");
  app.add_flag("--lanes", o.lanes,
               "Also list as `rehome run` does: K lanes over 4K planned ranges, splitting the "
               "busiest range when a lane runs out");
  app.add_option("--split-min-keys", o.split_min_keys,
                 "Lanes: split only a range with about this many keys left")
      ->capture_default_str();
  app.add_option("--endpoint", o.endpoint, "S3 endpoint URL (default: AWS_ENDPOINT_URL)");
  app.add_option("--region", o.region, "Region (default: AWS_REGION, else us-east-1)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    return measure(o);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
