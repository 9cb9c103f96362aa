#include "engine/copy_errors.h"

#include <string_view>

#include <fmt/format.h>

namespace rehome::engine {

bool is_job_fatal(const Error& error, const JobConfig& config) {
  static constexpr std::string_view kCredentialCodes[] = {
      "SignatureDoesNotMatch", "InvalidAccessKeyId",          "ExpiredToken",
      "InvalidToken",          "TokenRefreshRequired",        "AllAccessDisabled",
      "AccountProblem",        "RequestTimeTooSkewed",        "InvalidSecurity",
      "NotSignedUp",           "AuthorizationHeaderMalformed"};
  if (error.kind == ErrorKind::kInvalidInput || error.code == "NoSuchBucket") return true;
  // A write option the production bucket refuses fails every copy alike (--acl, --storage-class).
  // radosgw answers a storage class it does not offer with InvalidArgument: fatal only when a
  // write into production (the message names the operation and the object) was refused so.
  const bool production_write =
      error.message.find("s3://" + config.production.bucket + "/") != std::string::npos &&
      (error.message.starts_with("PUT ") || error.message.starts_with("COPY ") ||
       error.message.starts_with("CREATE MULTIPART UPLOAD ") ||
       error.message.starts_with("COMPLETE MULTIPART UPLOAD "));
  if (error.code == "AccessControlListNotSupported" || error.code == "InvalidStorageClass" ||
      (!config.storage_class.empty() && error.code == "InvalidArgument" && production_write)) {
    return true;
  }
  for (std::string_view code : kCredentialCodes) {
    if (error.code == code) return true;
  }
  return false;
}

std::string object_refusal_advice(const Error& error) {
  if (error.code == "InvalidObjectState") {
    return "the object is archived (GLACIER, DEEP_ARCHIVE or an archive tier): restore it "
           "(s3api restore-object) and rerun; its rows stay legacy until then";
  }
  return "only this object is refused: a bucket policy or ACL on its key, a KMS key this role "
         "may not use, or another account's object; grant what the refused request needs (the "
         "request above: s3:GetObject and kms:Decrypt to read the legacy object, s3:PutObject "
         "and kms:GenerateDataKey to write its copy, s3:GetObjectTagging / s3:PutObjectTagging "
         "for a tagged object copied between endpoints) and rerun; its rows stay legacy until "
         "then";
}

Error with_job_advice(const Error& error, const JobConfig& config) {
  Error out = error;
  if (error.code == "AccessControlListNotSupported") {
    out.message += fmt::format(
        " (the production bucket {} has ACLs disabled (Object Ownership: bucket owner "
        "enforced), so --acl {} cannot be applied: run without --acl, and grant access with a "
        "bucket policy instead)",
        config.production.bucket, config.acl);
  } else if (error.code == "InvalidStorageClass" ||
             (!config.storage_class.empty() && error.code == "InvalidArgument")) {
    out.message += fmt::format(
        " (if the server refused --storage-class {}: this endpoint does not offer it; run with "
        "a class it has, or without --storage-class)",
        config.storage_class);
  }
  return out;
}

}  // namespace rehome::engine
