#include "endpoint.h"

#include "s3/credentials.h"

namespace rehome::bench {

Result<s3::ClientConfig> client_config(const std::string& endpoint_flag,
                                       const std::string& region_flag) {
  auto settings = s3::resolve_aws_settings(s3::process_environment());
  if (!settings) return settings.error();
  s3::ClientConfig config;
  config.credentials = settings->credentials;
  const std::string region = !region_flag.empty() ? region_flag : settings->region;
  config.endpoint.region = region.empty() ? "us-east-1" : region;
  std::string endpoint = !endpoint_flag.empty() ? endpoint_flag : settings->endpoint_url;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (endpoint.empty()) {
    Error error;
    error.kind = ErrorKind::kInvalidInput;
    error.message =
        "no endpoint: set AWS_ENDPOINT_URL or --endpoint (this tool is for test servers)";
    return error;
  }
  config.endpoint.url = endpoint;
  return config;
}

}  // namespace rehome::bench
