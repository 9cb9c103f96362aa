#include "migration_env.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace rehome::testing {

namespace {

const S3Target* radosgw() {
  static const std::vector<S3Target> targets = s3_targets();
  for (const auto& t : targets) {
    if (t.name == "radosgw" && t.configured()) return &t;
  }
  return nullptr;
}

}  // namespace

std::string avatar_bytes(int i) {
  std::string body = "\x89PNG\r\n\x1a\n";
  body += fmt::format("avatar {} ", i);
  body.append(static_cast<std::size_t>(200 + (i * 37) % 1800), static_cast<char>('a' + i % 26));
  return body;
}

MigrationEnv::MigrationEnv() {
  const S3Target* rgw = radosgw();
  if (!rgw) throw std::runtime_error("radosgw not configured (REHOME_TEST_RGW_ENDPOINT)");
  endpoint_ = rgw->endpoint;
  rehome_endpoint_ = endpoint_;
  access_key_ = rgw->access_key;
  secret_key_ = rgw->secret_key;
  // The migration_test_https entry: rehome talks to the same radosgw over HTTPS, trusting only
  // the throwaway CA scripts/start-rgw made; the Python helpers keep the plain endpoint.
  if (const char* tls = std::getenv("REHOME_TEST_RGW_OVER_TLS"); tls && std::string(tls) == "1") {
    const char* https = std::getenv("REHOME_TEST_RGW_TLS_ENDPOINT");
    const char* ca = std::getenv("REHOME_TEST_CA_BUNDLE");
    if (!https || !ca || !*https || !*ca) {
      throw std::runtime_error(
          "REHOME_TEST_RGW_OVER_TLS=1 needs REHOME_TEST_RGW_TLS_ENDPOINT and "
          "REHOME_TEST_CA_BUNDLE (scripts/services up sets them)");
    }
    rehome_endpoint_ = https;
    ca_bundle_ = ca;
  }
  database_ = std::make_unique<TestDatabase>();
  auto conn =
      pg::Connection::open(pg::ConnectionConfig{database_->conninfo(), "rehome-test", 10, 0});
  if (!conn) throw std::runtime_error(conn.error().message);
  db_.emplace(std::move(conn.value()));
  sql("CREATE TABLE avatars (id SERIAL PRIMARY KEY, path VARCHAR)");
  loop_ = std::make_unique<http::Loop>();
  pacer_ = std::make_unique<s3::Pacer>(*loop_, s3::PacerOptions{.max_in_flight = 128});
  client_ = std::make_unique<s3::Client>(*loop_, *pacer_, config().legacy.client);
  const std::string suffix = unique_suffix();
  legacy_bucket_ = "legacy-" + suffix;
  production_bucket_ = "production-" + suffix;
  for (const auto& bucket : {legacy_bucket_, production_bucket_}) {
    auto made =
        s3::run_to_completion<Ok>(*loop_, [&](auto done) { client_->create_bucket(bucket, done); });
    if (!made) throw std::runtime_error(made.error().message);
  }
}

MigrationEnv::~MigrationEnv() = default;

engine::JobConfig MigrationEnv::config() const {
  engine::JobConfig config;
  config.database.conninfo = database_->conninfo();
  s3::ClientConfig client;
  client.endpoint.url = rehome_endpoint_;
  client.endpoint.region = "us-east-1";
  client.endpoint.path_style = true;
  client.endpoint.ca_bundle = ca_bundle_;
  client.credentials = {access_key_, secret_key_, "", "test"};
  config.legacy = {client, legacy_bucket_, "image/"};
  config.production = {client, production_bucket_, "avatar/"};
  config.concurrency = 32;
  config.row_range = 100;
  return config;
}

void MigrationEnv::put(const std::string& bucket, const std::string& key, const std::string& body) {
  s3::PutRequest request;
  request.bucket = bucket;
  request.key = key;
  request.body = body;
  request.content_type = "image/png";
  auto r = s3::run_to_completion<s3::ObjectInfo>(
      *loop_, [&](auto done) { client_->put_object(request, done); });
  if (!r) throw std::runtime_error(r.error().message);
}

std::optional<std::string> MigrationEnv::get(const std::string& bucket, const std::string& key) {
  s3::GetRequest request;
  request.bucket = bucket;
  request.key = key;
  auto r = s3::run_to_completion<s3::GetResult>(
      *loop_, [&](auto done) { client_->get_object(request, done); });
  if (!r) {
    if (r.error().kind == ErrorKind::kNotFound) return std::nullopt;
    throw std::runtime_error(r.error().message);
  }
  return r->body;
}

pg::Rows MigrationEnv::sql(const std::string& statement, const pg::Params& params) {
  auto r = db_->exec(statement, params);
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r.value());
}

std::int64_t MigrationEnv::insert_row(const std::optional<std::string>& path) {
  return sql("INSERT INTO avatars (path) VALUES ($1) RETURNING id", {path}).int64(0, 0);
}

std::optional<std::string> MigrationEnv::path_of(std::int64_t id) {
  auto rows = sql("SELECT path FROM avatars WHERE id = $1", {std::to_string(id)});
  if (rows.size() == 0 || rows.is_null(0, 0)) return std::nullopt;
  return std::string(rows.text(0, 0));
}

std::vector<std::int64_t> MigrationEnv::seed_legacy(int n, int first) {
  std::vector<std::int64_t> ids;
  for (int i = first; i < first + n; ++i) {
    const std::string key = fmt::format("image/avatar-{}.png", i);
    put(legacy_bucket_, key, avatar_bytes(i));
    ids.push_back(insert_row(key));
  }
  return ids;
}

void MigrationEnv::deny_get(const std::string& bucket, const std::string& key_pattern) {
  // PutBucketPolicy is no operation of rehome's client: the fault suite's small signed client
  // (tests/faults/s3mini.py) sends it.
  const std::string policy =
      fmt::format(R"({{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*",)"
                  R"("Action":"s3:GetObject","Resource":"arn:aws:s3:::{}/{}"}}]}})",
                  bucket, key_pattern);
  const std::string script = fmt::format(
      "import sys; sys.path.insert(0, '{}/tests/faults'); from s3mini import S3; "
      "status = S3('{}', '{}', '{}').request('PUT', '{}', query={{'policy': ''}}, "
      "body=sys.argv[1].encode())[0]; sys.exit(0 if status in (200, 204) else 1)",
      REHOME_SOURCE_DIR, endpoint_, access_key_, secret_key_, bucket);
  const std::string command = "python3 -c \"" + script + "\" '" + policy + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << "PutBucketPolicy on " << bucket << " failed";
}

void MigrationEnv::put_multipart(const std::string& bucket, const std::string& key,
                                 const std::vector<std::string>& parts) {
  // rehome's client never uploads in parts; the fault suite's small signed client does. The
  // parts travel in files (megabytes do not fit in an argument).
  std::vector<std::string> files;
  std::string args;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    files.push_back(fmt::format("{}/rehome-part-{}-{}",
                                std::filesystem::temp_directory_path().string(), getpid(), i));
    std::ofstream(files.back(), std::ios::binary) << parts[i];
    args += ' ';
    args += files.back();
  }
  const std::string script = fmt::format(
      "import sys; sys.path.insert(0, '{}/tests/faults'); from s3mini import S3; "
      "S3('{}', '{}', '{}').put_multipart('{}', sys.argv[1], "
      "[open(f, 'rb').read() for f in sys.argv[2:]])",
      REHOME_SOURCE_DIR, endpoint_, access_key_, secret_key_, bucket);
  const std::string command = fmt::format("python3 -c \"{}\" '{}'{}", script, key, args);
  const int status = std::system(command.c_str());
  for (const auto& file : files) std::filesystem::remove(file);
  ASSERT_EQ(status, 0) << "multipart upload of " << key << " failed";
}

std::string MigrationEnv::python(const std::string& code) {
  const auto file =
      std::filesystem::temp_directory_path() / fmt::format("rehome-py-{}.py", getpid());
  std::ofstream(file)
      << fmt::format(
             "import sys\nsys.path.insert(0, '{}/tests/faults')\nfrom s3mini import S3\n"
             "s3 = S3('{}', '{}', '{}')\n",
             REHOME_SOURCE_DIR, endpoint_, access_key_, secret_key_)
      << code << "\n";
  std::string out;
  FILE* pipe = popen(("python3 " + file.string()).c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen python3 failed");
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    out.append(buffer.data(), n);
  const int status = pclose(pipe);
  std::filesystem::remove(file);
  EXPECT_EQ(status, 0) << "python failed:\n" << code << "\n" << out;
  return out;
}

std::vector<std::string> MigrationEnv::binary_env() const {
  return {
      "DATABASE_URL=" + database_->conninfo(),
      "AWS_ENDPOINT_URL=" + rehome_endpoint_,
      "AWS_CA_BUNDLE=" + ca_bundle_,
      "AWS_ACCESS_KEY_ID=" + access_key_,
      "AWS_SECRET_ACCESS_KEY=" + secret_key_,
      "AWS_REGION=us-east-1",
      "REHOME_LEGACY_BUCKET=" + legacy_bucket_,
      "REHOME_PRODUCTION_BUCKET=" + production_bucket_,
  };
}

namespace {

int run_rehome_impl(const std::vector<std::string>& args, const std::vector<std::string>& env,
                    int signal, std::chrono::milliseconds delay, std::string* output);

}  // namespace

int run_rehome(const std::vector<std::string>& args, const std::vector<std::string>& env,
               std::string* output) {
  return run_rehome_impl(args, env, 0, {}, output);
}

int run_rehome_and_signal(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          int signal, std::chrono::milliseconds delay, std::string* output) {
  return run_rehome_impl(args, env, signal, delay, output);
}

namespace {

int run_rehome_impl(const std::vector<std::string>& args, const std::vector<std::string>& env,
                    int signal, std::chrono::milliseconds delay, std::string* output) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(REHOME_BINARY));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(REHOME_BINARY, argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::thread signaller;
  if (signal != 0) {
    signaller = std::thread([pid, signal, delay] {
      std::this_thread::sleep_for(delay);
      ::kill(pid, signal);
    });
  }
  std::string captured;
  std::array<char, 4096> buffer{};
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer.data(), buffer.size())) > 0) {
    captured.append(buffer.data(), static_cast<std::size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (signaller.joinable()) signaller.join();
  if (output) *output = std::move(captured);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

}  // namespace rehome::testing
