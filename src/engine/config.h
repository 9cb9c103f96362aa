// The job's configuration as one value, validated once at start-up and passed to
// constructors. Defaults are the avatars migration this tool was built for.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "pg/connection.h"
#include "s3/types.h"
#include "util/result.h"

namespace rehome::engine {

/// Limits validate() enforces: beyond them a setting costs more than it gives (connections,
/// lanes, requests in flight), or the server refuses it (page size).
inline constexpr std::size_t kMaxRowConnections = 32;
inline constexpr std::size_t kMaxRanges = 64;
inline constexpr std::size_t kMaxConcurrency = 4096;
/// CopyObject's limit, and a part's (S3 limits).
inline constexpr std::int64_t kMaxCopyObjectBytes = 5LL * 1024 * 1024 * 1024;
inline constexpr std::int64_t kMinPartBytes = 5LL * 1024 * 1024;

/// One side of the move: where its objects live.
struct BucketSide {
  s3::ClientConfig client;  ///< Endpoint and credentials for this bucket.
  std::string bucket;
  std::string prefix;
};

struct JobConfig {
  pg::ConnectionConfig database;
  std::string table = "avatars";
  std::string id_column = "id";
  std::string path_column = "path";
  std::string state_schema = "rehome";  ///< Where rehome keeps its own bookkeeping.

  BucketSide legacy{{}, "legacy-s3", "image/"};
  BucketSide production{{}, "production-s3", "avatar/"};

  /// Hard cap on S3 requests in flight per endpoint; 0 = none (sized from rate and latency).
  std::size_t concurrency = 0;
  /// Key ranges of the legacy listing listed and copied side by side. A new job's listing is
  /// cut into four times as many, so ranges that end early leave others to go on with.
  std::size_t ranges = 8;
  /// A lane with no range left takes over half of the busiest range's remainder, when about
  /// this many keys are left in it (range_split.h): fewer are not worth a second listing.
  std::size_t split_min_keys = 2000;
  /// Keys per listing page: S3's maximum, which a test lowers to get many pages from few keys.
  int list_page_size = 1000;
  double max_rps = 0;             ///< Cap on S3 requests per second; 0 = none.
  std::int64_t row_range = 5000;  ///< Rows per primary-key range rewritten in one transaction.
  /// Connections rewriting ranges side by side (1: the main connection alone). Was
  /// --row-workers before a worker meant a process.
  std::size_t row_connections = 2;
  /// How long a claim on part of the job lives without a heartbeat (claim_store.h): a killed,
  /// frozen or cut-off worker's work is taken over after it. Heartbeats come every fifth.
  std::chrono::seconds lease{15};
  /// Where run and cleanup serve Prometheus metrics ("HOST:PORT"); empty: nowhere.
  std::string metrics_address;
  /// When the command ends, how long to wait for a last scrape (if anything scraped at all).
  std::chrono::seconds metrics_linger{15};
  std::size_t record_batch = 1000;  ///< Object outcomes recorded per transaction.
  /// The longest a rewrite waits for a lock (lock_timeout, per transaction). Rows the
  /// application holds are skipped (SKIP LOCKED) and retried once free; this bounds the wait
  /// for anything else (a table lock), so the application never queues behind rehome longer.
  std::chrono::seconds lock_timeout{1};
  /// How long locked rows are retried before the run leaves them for the next one.
  std::chrono::seconds locked_rows_patience{60};
  /// Largest object copied through this process when a server-side copy is impossible, and
  /// largest read to compare a twin's bytes when nothing else can prove it identical; 0 = no
  /// limit (memory is bounded by the streaming budget whatever the sizes: streamed_copy.h).
  std::int64_t max_streamed_object = 0;
  /// Objects larger than this are copied as multipart uploads: UploadPartCopy when one
  /// endpoint and identity reach both buckets (CopyObject stops at 5 GiB), UploadPart through
  /// this process otherwise (which also sends anything larger than a part in parts, to hold at
  /// most one part per object in memory).
  std::int64_t multipart_threshold = kMaxCopyObjectBytes;
  /// Their part size (more when 10,000 parts would not hold the object).
  std::int64_t multipart_chunksize = 8LL * 1024 * 1024;
  /// What a copy gets that CopyObject does not carry over (empty: the bucket's defaults, a
  /// private ACL and STANDARD): a canned ACL (x-amz-acl) and a storage class.
  std::string acl;
  std::string storage_class;
  bool relist = false;  ///< Scan the legacy bucket again even if a previous run finished it.
  /// Record this run's result-changing settings for the job, replacing the recorded ones.
  bool change_settings = false;
};

/// True when one set of credentials on one endpoint reaches both buckets, so CopyObject can
/// copy server-side; otherwise each object streams through rehome (GET, then PUT).
bool server_side_copy_possible(const JobConfig& config);

/// Checks everything that can be checked without a network: non-empty names, prefixes that
/// differ and do not contain one another, valid identifiers and endpoints, sane numbers.
/// The error says which setting is wrong and how to fix it.
Status validate(const JobConfig& config);

/// The settings that change what a job produces (job_name() holds the table and prefixes), as
/// JSON text: recorded with the job, so that every worker copies the same way.
std::string result_settings(const JobConfig& config);
/// Pure: the differences between recorded and given result_settings(), "" when none, as
/// "--acl: recorded \"\", given \"public-read\"; ...".
std::string settings_difference(const std::string& recorded, const std::string& given);

/// A stable name for this job's bookkeeping: the same table, buckets and prefixes give the same
/// name, so a rerun finds the work of the runs before it.
std::string job_name(const JobConfig& config);

}  // namespace rehome::engine
