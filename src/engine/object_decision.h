// The pure decisions about one legacy object and its production twin, and the one rule for
// "this copy is identical" that every part of rehome uses (copier, verify, cleanup):
//
//   1. Different sizes: different.
//   2. Full-object checksums of one algorithm on both sides (S3 stores CRC64NVME for new
//      objects since 2024-12 and CopyObject carries it): equal or different, exactly.
//   3. Equal ETags: the same bytes (an MD5, or the same upload's multipart/KMS ETag).
//   4. Both ETags are content MD5s (single-part, not SSE-KMS or SSE-C, known from HEAD): different.
//   5. rehome's mark on the twin (kCopiedFromHeader): the twin is rehome's copy of the legacy
//      object with that ETag: the same if the legacy object still has it; rehome's copy of an
//      older version if not.
//   6. Otherwise it cannot be proven either way from what the servers store (unproven): the
//      Copier then reads both objects and compares their bytes (within --max-streamed-object);
//      beyond that limit the twin is a conflict, never treated as identical (a read that fails
//      fails the object for the next run; a twin that vanished is looked at afresh).
//
// A listing does not say how an object is encrypted, so from listings alone rule 4 never
// applies: two ETags that differ on equal sizes call for a HEAD of both (kLookCloser).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "s3/types.h"

namespace rehome::engine {

enum class Sameness {
  kSame,       ///< The twin holds the legacy object's bytes.
  kDifferent,  ///< It does not.
  kUnproven,   ///< Nothing the servers said can tell: never counted as the same.
};

/// What the rule found and what it was based on (for messages: "by CRC64NVME checksum").
struct Identity {
  Sameness verdict = Sameness::kUnproven;
  std::string_view basis;  ///< "size", "checksum", "ETag", "rehome's mark", "MD5 ETags"
  /// The twin carries rehome's mark but holds another version of the legacy object: rehome's
  /// copy of it before the legacy object changed. Reported as a conflict that says so unless
  /// it is the copy this settle or an earlier run wrote, which is replaced (copier.cc,
  /// If-Match on its ETag).
  bool own_older_copy = false;
};

/// The identity rule above, applied to what is known of both objects.
Identity compare(const s3::ObjectInfo& legacy, const s3::ObjectInfo& twin);

enum class ObjectAction {
  kCopy,           ///< Production has no twin: copy.
  kAlreadyCopied,  ///< Production's twin is proven identical: nothing to do.
  kConflict,       ///< Production's twin is proven different: never overwrite, report.
  kLookCloser,     ///< Not provable from what is known: HEAD both and decide again.
};

/// Decides from a legacy object and what production holds under the mapped key. With both
/// described by HEAD, an unproven twin is a conflict (reported, never overwritten).
ObjectAction decide(const s3::ObjectInfo& legacy, const std::optional<s3::ObjectInfo>& production);

/// True when the ETag is a multipart upload's ("<hex>-<parts>"), which is not a content MD5.
bool is_multipart_etag(std::string_view etag);

/// True when the object's ETag is known to be the MD5 of its bytes: described by HEAD or GET,
/// single-part, and neither SSE-KMS nor SSE-C encrypted.
bool has_md5_etag(const s3::ObjectInfo& object);

/// Explains a twin that is not proven identical, for the record and the summary.
std::string describe_difference(const s3::ObjectInfo& legacy, const s3::ObjectInfo& twin,
                                const Identity& identity, std::string_view twin_uri);

}  // namespace rehome::engine
