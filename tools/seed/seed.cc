// rehome-seed: fills the legacy and production buckets and the avatars table with a realistic
// data set for the demo, benchmarks and manual testing. Half the avatars are still legacy
// (image/ object + row), half already modern (avatar/ object + row), plus the awkward cases a
// real migration meets: rows naming missing objects, objects no row names, production twins
// with different bytes, and NULL / empty / foreign-URL rows.
//
// Objects go through the library's own S3 client on one event loop. At most --concurrency PUTs
// are submitted at once and each completion submits the next, so memory stays flat however
// many objects are asked for. Rows go in 5,000 per INSERT ... SELECT unnest($1::text[]), in one
// transaction, so a failed seed never leaves half a table behind.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "http/loop.h"
#include "pg/connection.h"
#include "pg/identifier.h"
#include "s3/client.h"
#include "s3/credentials.h"
#include "s3/pacer.h"

namespace {

using namespace rehome;
using Clock = std::chrono::steady_clock;

struct Options {
  std::size_t avatars = 10'000, broken = 3, unreferenced = 5, conflicts = 1, odd_rows = 3;
  std::size_t concurrency = 64;
  std::string database_url, table = "avatars";
  std::string legacy_bucket = "legacy-s3", production_bucket = "production-s3";
  std::string legacy_prefix = "image/", production_prefix = "avatar/";
  std::string endpoint, region, profile;
  bool truncate = false;
};

/// One object to PUT: where, and the seed its deterministic body grows from.
struct ObjectSpec {
  const std::string* bucket;
  std::string key;
  std::uint64_t seed;
};

// Body seeds by kind, so that a conflict's production twin never equals its legacy original.
enum class BodyKind : std::uint64_t {
  kAvatar = 1,
  kUnreferenced = 2,
  kConflictLegacy = 3,
  kConflictTwin = 4
};

std::uint64_t body_seed(BodyKind kind, std::size_t i) {
  return (static_cast<std::uint64_t>(kind) << 40) | static_cast<std::uint64_t>(i);
}

/// splitmix64: a bijection of its state, so different seeds give different first words.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// A PNG signature followed by deterministic filler; 1,024 to 4,096 bytes depending on `seed`.
std::string png_like_body(std::uint64_t seed) {
  static constexpr char kSignature[] = "\x89PNG\r\n\x1a\n";
  std::uint64_t state = seed;
  const std::uint64_t first = splitmix64(state);
  std::string body(kSignature, 8);
  body.resize(1024 + first % 3073);
  std::uint64_t word = first;
  for (std::size_t i = 8; i < body.size(); ++i) {
    if (i % 8 == 0) word = splitmix64(state);
    body[i] = static_cast<char>(word >> (8 * (i % 8)));
  }
  return body;
}

std::size_t legacy_avatars(const Options& o) { return o.avatars - o.avatars / 2; }

/// Every object the seed holds, in a fixed order, computed from its index so that nothing
/// needs to be materialised up front. Avatar i is legacy when i is even, modern when odd.
class ObjectPlan {
 public:
  explicit ObjectPlan(const Options& o) : o_(o) {}

  std::size_t size() const { return o_.avatars + o_.unreferenced + 2 * o_.conflicts; }

  ObjectSpec at(std::size_t index) const {
    if (index < o_.avatars) {
      const bool legacy = index % 2 == 0;
      return {
          legacy ? &o_.legacy_bucket : &o_.production_bucket,
          fmt::format("{}avatar-{}.png", legacy ? o_.legacy_prefix : o_.production_prefix, index),
          body_seed(BodyKind::kAvatar, index)};
    }
    index -= o_.avatars;
    if (index < o_.unreferenced) {
      return {&o_.legacy_bucket, fmt::format("{}unreferenced-{}.png", o_.legacy_prefix, index),
              body_seed(BodyKind::kUnreferenced, index)};
    }
    index -= o_.unreferenced;
    const std::size_t c = index / 2;
    if (index % 2 == 0) {
      return {&o_.legacy_bucket, fmt::format("{}conflict-{}.png", o_.legacy_prefix, c),
              body_seed(BodyKind::kConflictLegacy, c)};
    }
    return {&o_.production_bucket, fmt::format("{}conflict-{}.png", o_.production_prefix, c),
            body_seed(BodyKind::kConflictTwin, c)};
  }

 private:
  const Options& o_;
};

/// The path of every non-NULL row, in insertion (id) order; NULL rows are inserted apart.
std::vector<std::string> row_paths(const Options& o) {
  std::vector<std::string> paths;
  paths.reserve(o.avatars + o.broken + o.conflicts + 2 * o.odd_rows);
  for (std::size_t i = 0; i < o.avatars; ++i) {
    paths.push_back(
        fmt::format("{}avatar-{}.png", i % 2 == 0 ? o.legacy_prefix : o.production_prefix, i));
  }
  for (std::size_t i = 0; i < o.broken; ++i)
    paths.push_back(fmt::format("{}missing-{}.png", o.legacy_prefix, i));
  // A conflict's row stays legacy: rehome must not point it at the different production bytes.
  for (std::size_t i = 0; i < o.conflicts; ++i)
    paths.push_back(fmt::format("{}conflict-{}.png", o.legacy_prefix, i));
  for (std::size_t i = 0; i < o.odd_rows; ++i) paths.emplace_back();
  for (std::size_t i = 0; i < o.odd_rows; ++i) {
    paths.push_back(fmt::format("https://cdn.example.com/{}avatar-{}.png", o.legacy_prefix, i));
  }
  return paths;
}

/// Keeps at most `window` PUTs submitted; each completion submits the next. The first error
/// stops new submissions; what is in flight finishes, then run() reports it.
class ObjectSeeder {
 public:
  ObjectSeeder(s3::Client& client, const Options& o) : client_(client), o_(o), plan_(o) {}

  Status run(http::Loop& loop) {
    for (std::size_t i = 0; i < o_.concurrency && submit_next(); ++i) {
    }
    loop.run();
    if (first_error_) return *first_error_;
    return Ok{};
  }

  std::size_t done() const { return done_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  bool submit_next() {
    if (next_ >= plan_.size() || first_error_) return false;
    ObjectSpec spec = plan_.at(next_++);
    s3::PutRequest request;
    request.bucket = *spec.bucket;
    request.key = std::move(spec.key);
    request.body = png_like_body(spec.seed);
    request.content_type = "image/png";
    client_.put_object(std::move(request), [this](Result<s3::ObjectInfo> r) {
      if (!r) {
        if (!first_error_) first_error_ = r.error();
        return;
      }
      ++done_;
      bytes_ += static_cast<std::uint64_t>(r->size);
      submit_next();
    });
    return true;
  }

  s3::Client& client_;
  const Options& o_;
  ObjectPlan plan_;
  std::size_t next_ = 0, done_ = 0;
  std::uint64_t bytes_ = 0;
  std::optional<Error> first_error_;
};

Result<s3::ClientConfig> client_config(const Options& o) {
  auto settings = s3::resolve_aws_settings(s3::process_environment(), o.profile);
  if (!settings) return settings.error();
  s3::ClientConfig config;
  config.credentials = settings->credentials;
  const std::string region = !o.region.empty() ? o.region : settings->region;
  config.endpoint.region = region.empty() ? "us-east-1" : region;
  std::string endpoint = !o.endpoint.empty() ? o.endpoint : settings->endpoint_url;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (endpoint.empty()) {
    // AWS itself, as rehome addresses it: virtual-hosted on the regional endpoint.
    config.endpoint.url = fmt::format("https://s3.{}.amazonaws.com", config.endpoint.region);
    config.endpoint.path_style = false;
  } else {
    config.endpoint.url = endpoint;
  }
  return config;
}

/// Creates both buckets (a bucket we already own counts), then PUTs every object.
Status seed_objects(const Options& o, s3::Client& client, http::Loop& loop, ObjectSeeder& seeder) {
  for (const std::string* bucket : {&o.legacy_bucket, &o.production_bucket}) {
    auto created = s3::run_to_completion<Ok>(
        loop, [&](s3::Callback<Ok> done) { client.create_bucket(*bucket, std::move(done)); });
    if (!created) return created.error();
  }
  return seeder.run(loop);
}

Status exec(pg::Connection& db, const std::string& sql, const pg::Params& params = {}) {
  auto r = db.exec(sql, params);
  if (!r) return r.error();
  return Ok{};
}

/// Connects to the database: done before any object is written, so a wrong URL fails fast.
Result<pg::Connection> open_database(const Options& o) {
  pg::ConnectionConfig config;
  config.conninfo = o.database_url;
  config.application_name = "rehome-seed";
  return pg::Connection::open(config);
}

/// Creates `table` (already quoted) if needed, optionally empties it, and inserts every row,
/// all in one transaction. Returns the number of rows inserted.
Result<std::size_t> seed_rows(const Options& o, pg::Connection& db, const std::string& table) {
  if (auto st = db.begin(); !st) return st.error();
  if (auto st = exec(
          db, fmt::format("CREATE TABLE IF NOT EXISTS {} (id SERIAL PRIMARY KEY, path VARCHAR)",
                          table));
      !st) {
    return st.error();
  }
  if (o.truncate) {
    if (auto st = exec(db, fmt::format("TRUNCATE {} RESTART IDENTITY", table)); !st)
      return st.error();
  }
  const std::vector<std::string> paths = row_paths(o);
  constexpr std::size_t kBatch = 5000;
  const std::string insert = fmt::format("INSERT INTO {} (path) SELECT unnest($1::text[])", table);
  for (std::size_t from = 0; from < paths.size(); from += kBatch) {
    const auto begin = paths.begin() + static_cast<std::ptrdiff_t>(from);
    const auto end =
        paths.begin() + static_cast<std::ptrdiff_t>(std::min(paths.size(), from + kBatch));
    if (auto st = exec(db, insert, {pg::text_array_literal({begin, end})}); !st) return st.error();
  }
  // text_array_literal quotes every element, so NULL rows need their own statement.
  if (auto st = exec(
          db,
          fmt::format("INSERT INTO {} (path) SELECT NULL FROM generate_series(1, $1::int)", table),
          {std::to_string(o.odd_rows)});
      !st) {
    return st.error();
  }
  if (auto st = db.commit(); !st) return st.error();
  return paths.size() + o.odd_rows;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int fail(const std::string& message) {
  fmt::print(stderr, "rehome-seed: error: {}\n", message);
  return 1;
}

int seed(const Options& o) {
  // Configuration first, all of it, so that no mistake is found after minutes of PUTs.
  auto s3_config = client_config(o);
  if (!s3_config) return fail(s3_config.error().message);
  auto table = pg::quote_identifier(o.table);
  if (!table) return fail(fmt::format("--table: {}", table.error().message));
  auto db = open_database(o);
  if (!db) return fail(db.error().message);

  // Phase 1, objects: the slow part, so it gets the event loop and the concurrency.
  http::LoopOptions loop_options;
  loop_options.max_connections = static_cast<long>(o.concurrency) + 8;
  http::Loop loop(loop_options);
  s3::Pacer pacer(loop, s3::PacerOptions{.max_in_flight = o.concurrency});
  // Both buckets sit behind the same endpoint and credentials: one client serves both.
  s3::Client client(loop, pacer, *s3_config);
  ObjectSeeder seeder(client, o);
  const auto t0 = Clock::now();
  if (auto st = seed_objects(o, client, loop, seeder); !st) {
    return fail(
        fmt::format("{} ({} objects written before the failure; check the endpoint, "
                    "credentials and buckets, then rerun: PUTs are idempotent)",
                    st.error().message, seeder.done()));
  }
  const double object_seconds = seconds_since(t0);

  // Phase 2, rows: after the objects, so a failed object phase leaves the table untouched.
  const auto t1 = Clock::now();
  auto rows = seed_rows(o, *db, *table);
  if (!rows) return fail(fmt::format("seeding table {}: {}", o.table, rows.error().message));
  const double row_seconds = seconds_since(t1);

  const std::size_t legacy_n = legacy_avatars(o);
  fmt::print(
      "rehome-seed: {} avatars ({} legacy in s3://{}/{}, {} modern in s3://{}/{}), "
      "{} broken references, {} unreferenced legacy objects, {} conflicting production twins, "
      "{} NULL + {} empty + {} foreign-URL rows\n",
      o.avatars, legacy_n, o.legacy_bucket, o.legacy_prefix, o.avatars - legacy_n,
      o.production_bucket, o.production_prefix, o.broken, o.unreferenced, o.conflicts, o.odd_rows,
      o.odd_rows, o.odd_rows);
  fmt::print(
      "rehome-seed: {} objects ({:.1f} MB) in {:.2f}s: {:.0f} objects/s at concurrency {}; "
      "{} rows into {} in {:.2f}s\n",
      seeder.done(), static_cast<double>(seeder.bytes()) / 1e6, object_seconds,
      static_cast<double>(seeder.done()) / std::max(object_seconds, 1e-9), o.concurrency, *rows,
      o.table, row_seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "rehome-seed: fill the legacy and production buckets and the avatars table with a "
      "realistic data set for rehome's demo and benchmarks."};
  Options o;
  app.add_option("--avatars", o.avatars, "Avatars: half legacy (image/ object + row), half modern")
      ->capture_default_str();
  app.add_option("--broken", o.broken, "Legacy rows naming objects that do not exist")
      ->capture_default_str();
  app.add_option("--unreferenced", o.unreferenced, "Legacy objects no row names")
      ->capture_default_str();
  app.add_option("--conflicts", o.conflicts,
                 "Legacy objects whose production twin holds different bytes")
      ->capture_default_str();
  app.add_option("--odd-rows", o.odd_rows, "NULL, empty and foreign-URL rows (this many of each)")
      ->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "PUTs in flight")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--database-url", o.database_url,
                 "PostgreSQL URI or conninfo (default: DATABASE_URL, else PG*)")
      ->envname("DATABASE_URL");
  app.add_option("--table", o.table, "Table to fill (created if missing)")->capture_default_str();
  app.add_flag("--truncate", o.truncate, "Empty the table first (the buckets are not emptied)");
  app.add_option("--legacy-bucket", o.legacy_bucket)->capture_default_str();
  app.add_option("--production-bucket", o.production_bucket)->capture_default_str();
  app.add_option("--legacy-prefix", o.legacy_prefix)->capture_default_str();
  app.add_option("--production-prefix", o.production_prefix)->capture_default_str();
  app.add_option("--endpoint", o.endpoint, "S3 endpoint URL (default: AWS_ENDPOINT_URL, else AWS)");
  app.add_option("--region", o.region,
                 "Region (default: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1)");
  app.add_option("--profile", o.profile,
                 "AWS profile (default: AWS_PROFILE, else the environment's keys)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    return seed(o);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
