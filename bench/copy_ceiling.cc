// rehome-copy-ceiling: the fastest a client can move objects on this S3 server, to judge
// rehome against. It lists the source prefix once (sequentially, timed on its own), then sends
// one CopyObject per key at a fixed concurrency and nothing else: no HEAD, no ETag check, no
// database, no bookkeeping. Whatever rate this reaches is the server's ceiling for a lean client.
//
// It uses the library's own s3::Client (one event loop, the shared pacer, signing, retries), so
// the gap between this and `rehome run` is the cost of rehome's safety work, not of its transport.
//
// Prints one JSON line per second on stderr ({"t":s,"copied":n}) and a JSON summary on stdout.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "endpoint.h"
#include "http/loop.h"
#include "s3/client.h"
#include "s3/pacer.h"

namespace {

using namespace rehome;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string bucket = "legacy-s3", prefix = "image/";
  std::string dest_bucket, dest_prefix = "ceiling/";
  std::size_t concurrency = 128;
  std::string endpoint, region;
  bool progress = true;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int fail(const std::string& message) {
  fmt::print(stderr, "rehome-copy-ceiling: error: {}\n", message);
  return 1;
}

/// Every key under the prefix, one page after another (what rehome's lister does today).
Result<std::vector<std::string>> list_all(s3::Client& client, http::Loop& loop, const Options& o) {
  std::vector<std::string> keys;
  s3::ListRequest request{o.bucket, o.prefix, "", "", 1000};
  for (;;) {
    auto page = s3::run_to_completion<s3::ListPage>(loop, [&](s3::Callback<s3::ListPage> done) {
      client.list_objects_v2(request, std::move(done));
    });
    if (!page) return page.error();
    for (auto& object : page->objects) keys.push_back(std::move(object.key));
    if (!page->truncated) return keys;
    request.continuation_token = page->next_continuation_token;
  }
}

/// Keeps `concurrency` copies submitted; each completion submits the next.
class CopyLoad {
 public:
  CopyLoad(s3::Client& client, http::Loop& loop, const Options& o,
           const std::vector<std::string>& keys)
      : client_(client), loop_(loop), o_(o), keys_(keys) {}

  void run() {
    started_ = Clock::now();
    for (std::size_t i = 0; i < o_.concurrency && submit_next(); ++i) {
    }
    if (o_.progress) arm_progress();
    loop_.run();
  }

  std::size_t copied() const { return copied_; }
  std::size_t failed() const { return failed_; }
  const std::optional<Error>& first_error() const { return first_error_; }

 private:
  bool submit_next() {
    if (next_ >= keys_.size()) return false;
    const std::string& key = keys_[next_++];
    s3::CopyRequest request;
    request.source_bucket = o_.bucket;
    request.source_key = key;
    request.bucket = o_.dest_bucket;
    request.key = o_.dest_prefix + key.substr(o_.prefix.size());
    client_.copy_object(std::move(request), [this](Result<s3::CopyResult> r) {
      if (r) {
        ++copied_;
      } else {
        ++failed_;
        if (!first_error_) first_error_ = r.error();
      }
      submit_next();
    });
    return true;
  }

  // A once-a-second sample, re-armed only while copies remain so that loop.run() can return.
  void arm_progress() {
    loop_.after(std::chrono::milliseconds(1000), [this] {
      fmt::print(stderr, "{{\"t\":{:.3f},\"copied\":{}}}\n", seconds_since(started_), copied_);
      std::fflush(stderr);
      if (copied_ + failed_ < keys_.size()) arm_progress();
    });
  }

  s3::Client& client_;
  http::Loop& loop_;
  const Options& o_;
  const std::vector<std::string>& keys_;
  Clock::time_point started_;
  std::size_t next_ = 0, copied_ = 0, failed_ = 0;
  std::optional<Error> first_error_;
};

int measure(Options o) {
  if (o.dest_bucket.empty()) o.dest_bucket = o.bucket;
  auto config = bench::client_config(o.endpoint, o.region);
  if (!config) return fail(config.error().message);

  http::LoopOptions loop_options;
  loop_options.max_connections = static_cast<long>(o.concurrency) + 8;
  http::Loop loop(loop_options);
  s3::Pacer pacer(loop, s3::PacerOptions{.max_in_flight = o.concurrency});
  s3::Client client(loop, pacer, *config);

  // Phase 1, listing: timed alone, so sequential listing throughput is measured too.
  const auto t0 = Clock::now();
  auto keys = list_all(client, loop, o);
  if (!keys)
    return fail(fmt::format("listing s3://{}/{}: {}", o.bucket, o.prefix, keys.error().message));
  const double list_seconds = seconds_since(t0);

  // Phase 2, copies: the load whose rate is the ceiling.
  const auto t1 = Clock::now();
  CopyLoad load(client, loop, o, *keys);
  load.run();
  const double copy_seconds = seconds_since(t1);

  const auto n = static_cast<double>(keys->size());
  nlohmann::json out = {
      {"listed", keys->size()},
      {"list_seconds", list_seconds},
      {"list_keys_per_s", list_seconds > 0 ? n / list_seconds : 0},
      {"copied", load.copied()},
      {"failed", load.failed()},
      {"copy_seconds", copy_seconds},
      {"copy_objects_per_s",
       copy_seconds > 0 ? static_cast<double>(load.copied()) / copy_seconds : 0},
      {"total_seconds", list_seconds + copy_seconds},
      {"concurrency", o.concurrency},
      {"requests", client.stats().requests},
      {"retries", client.stats().retries},
      {"throttled", client.stats().throttled},
  };
  fmt::print("{}\n", out.dump());
  if (load.first_error()) {
    return fail(
        fmt::format("{} copies failed; first: {}", load.failed(), load.first_error()->message));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "rehome-copy-ceiling: list a prefix, then CopyObject every key at fixed concurrency "
      "with no verification and no database; prints objects/s as JSON."};
  Options o;
  app.add_option("--bucket", o.bucket, "Source bucket")->capture_default_str();
  app.add_option("--prefix", o.prefix, "Source prefix")->capture_default_str();
  app.add_option("--dest-bucket", o.dest_bucket, "Destination bucket (default: the source bucket)");
  app.add_option("--dest-prefix", o.dest_prefix, "Destination prefix (replaces --prefix)")
      ->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "Copies in flight")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--endpoint", o.endpoint, "S3 endpoint URL (default: AWS_ENDPOINT_URL)");
  app.add_option("--region", o.region, "Region (default: AWS_REGION, else us-east-1)");
  app.add_flag("!--no-progress", o.progress, "Do not print once-a-second progress on stderr");
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
