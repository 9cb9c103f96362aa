#include "aws_proxy.h"

#include <fmt/format.h>

#include <fstream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "http/loop.h"

namespace rehome::testing {

AwsProxy::AwsProxy(const MigrationEnv& env, const std::string& config_json,
                   const std::filesystem::path& dir)
    : dir_(dir) {
  std::filesystem::create_directories(dir_);
  const auto config_file = dir_ / "aws.json";
  std::ofstream(config_file) << config_json;
  const auto port_file = dir_ / "port";
  std::filesystem::remove(port_file);
  const auto client = env.config().legacy.client;
  child_ = std::make_unique<Child>(
      std::vector<std::string>{
          "python3", std::string(REHOME_SOURCE_DIR) + "/tests/faults/fault_proxy.py", "--upstream",
          client.endpoint.url, "--port-file", port_file.string(), "--stats-file",
          (dir_ / "stats.json").string(), "--aws", config_file.string(), "--access-key",
          client.credentials.access_key_id, "--secret-key", client.credentials.secret_access_key},
      std::vector<std::string>{}, (dir_ / "proxy.log").string());
  for (int i = 0; i < 400 && slurp(port_file.string()).empty(); ++i) {
    if (child_->wait_for(std::chrono::milliseconds(25)) != -1) break;  // it died
  }
  const std::string port = slurp(port_file.string());
  if (port.empty()) {
    throw std::runtime_error("the AWS-behaviour proxy did not start: " +
                             slurp((dir_ / "proxy.log").string()));
  }
  endpoint_ = fmt::format("http://127.0.0.1:{}", std::stoi(port));
}

AwsProxy::~AwsProxy() = default;

std::vector<std::string> AwsProxy::binary_env(const MigrationEnv& env) const {
  auto out = env.binary_env();
  out.push_back("AWS_ENDPOINT_URL=" + endpoint_);  // later entries win
  return out;
}

std::string AwsProxy::control(const std::string& method, const std::string& path,
                              const std::string& body) {
  http::Loop loop;
  http::Request request;
  request.method = method;
  request.url = endpoint_ + path;
  request.body = body;
  if (!body.empty()) request.headers.emplace_back("content-type", "application/json");
  std::optional<http::Response> response;
  loop.submit(std::move(request), [&](http::Response&& r) { response = std::move(r); });
  while (!response) loop.run();
  if (response->status != 200) {
    throw std::runtime_error(fmt::format("{} {} at the AWS-behaviour proxy: {} {}", method, path,
                                         response->status, response->body));
  }
  return response->body;
}

void AwsProxy::configure(const std::string& config_json) {
  control("POST", "/__fault_proxy/aws", config_json);
}

std::string AwsProxy::stats() { return control("GET", "/__fault_proxy/stats", ""); }

}  // namespace rehome::testing
