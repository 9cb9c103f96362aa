// The S3 client set-up the benchmark tools share: credentials and endpoint from the AWS_*
// environment, overridden by --endpoint / --region. The tools are for test servers, so an
// endpoint is required rather than defaulting to AWS.
#pragma once

#include <string>

#include "s3/client.h"
#include "util/result.h"

namespace rehome::bench {

Result<s3::ClientConfig> client_config(const std::string& endpoint_flag,
                                       const std::string& region_flag);

}  // namespace rehome::bench
