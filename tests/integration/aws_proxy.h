// The AWS-behaviour stand-in (tests/faults/aws_behaviour.py, through fault_proxy.py --aws) in
// front of the suite's real radosgw: what only AWS does (SSE-KMS ETags that are not MD5s,
// archived objects, full-object checksums, conditional copies, buckets with ACLs disabled),
// supplied on loopback where radosgw cannot show it. Tests name it as a stand-in.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "migration_env.h"

namespace rehome::testing {

class AwsProxy {
 public:
  /// Starts the proxy with `config_json` (the --aws file's content: {"kms_buckets": [...]}...)
  /// and waits until it listens. Its files live in `dir`.
  AwsProxy(const MigrationEnv& env, const std::string& config_json,
           const std::filesystem::path& dir);
  ~AwsProxy();

  /// http://127.0.0.1:PORT: point rehome's endpoint here.
  const std::string& endpoint() const { return endpoint_; }
  /// The rehome binary's environment, talking to the proxy instead of radosgw.
  std::vector<std::string> binary_env(const MigrationEnv& env) const;
  /// Replaces the behaviour configuration (POST /__fault_proxy/aws); throws on refusal.
  void configure(const std::string& config_json);
  /// The proxy's counters as JSON (GET /__fault_proxy/stats).
  std::string stats();

 private:
  std::string control(const std::string& method, const std::string& path, const std::string& body);

  std::filesystem::path dir_;
  std::unique_ptr<Child> child_;
  std::string endpoint_;
};

}  // namespace rehome::testing
