#include "engine/snapshot.h"

#include <fmt/format.h>

#include "engine/key_map.h"
#include "engine/lister.h"
#include "pg/identifier.h"

namespace rehome::engine {

namespace {
// Listing entries per INSERT into the temporary table: three arrays of this many elements are
// a few hundred kB per statement, so a million-key listing costs ~200 statements.
constexpr std::size_t kInsertBatch = 5000;
}  // namespace

Result<std::uint64_t> snapshot_listing(http::Loop& loop, s3::Api& client, const std::string& bucket,
                                       const std::string& prefix, pg::Connection& db,
                                       const std::string& table) {
  auto quoted = pg::quote_identifier(table);
  if (!quoted) return quoted.error();
  const std::string t = "pg_temp." + quoted.value();
  if (auto r = db.exec(fmt::format("DROP TABLE IF EXISTS {}", t)); !r) return r.error();
  if (auto r = db.exec(fmt::format(
          "CREATE TEMP TABLE {} (suffix text COLLATE \"C\" PRIMARY KEY, etag text, size bigint)",
          t));
      !r) {
    return r.error();
  }
  std::vector<std::string> suffixes, etags;
  std::vector<std::int64_t> sizes;
  std::uint64_t total = 0;
  auto insert = [&]() -> Status {
    if (suffixes.empty()) return Ok{};
    auto r = db.exec(fmt::format("INSERT INTO {} SELECT * FROM unnest($1::text[], $2::text[], "
                                 "$3::bigint[]) ON CONFLICT DO NOTHING",
                                 t),
                     {pg::text_array_literal(suffixes), pg::text_array_literal(etags),
                      pg::int_array_literal(sizes)});
    suffixes.clear();
    etags.clear();
    sizes.clear();
    if (!r) return r.error();
    return Ok{};
  };
  Lister lister(client, bucket, prefix, "", [] {});
  while (true) {
    lister.prefetch();
    while (!lister.ready()) loop.run();
    if (lister.error()) return *lister.error();
    if (lister.exhausted()) break;
    const auto& object = lister.front();
    suffixes.push_back(std::string(KeyMap::suffix_of_listed(object.key, prefix)));
    etags.push_back(object.etag);
    sizes.push_back(object.size);
    lister.pop();
    ++total;
    if (suffixes.size() >= kInsertBatch) {
      if (auto st = insert(); !st) return st.error();
    }
  }
  if (auto st = insert(); !st) return st.error();
  if (auto r = db.exec(fmt::format("ANALYZE {}", t)); !r) return r.error();
  return total;
}

}  // namespace rehome::engine
