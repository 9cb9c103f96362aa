#include "s3/refreshing_credentials.h"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace rehome::s3 {

namespace {

using Clock = std::chrono::system_clock;
constexpr auto kMaxBackoff = std::chrono::seconds(60);
// However near their expiration the fetched credentials are, the source is not asked again
// sooner than this (a source handing out nearly expired ones would otherwise be run in a loop).
constexpr auto kMinRefreshInterval = std::chrono::seconds(10);
// A credential_process that does not answer in this time is killed (an MFA prompt, a login).
constexpr int kProcessTimeoutSeconds = 60;

}  // namespace

RefreshingCredentials::RefreshingCredentials(FetchCredentials fetch, std::string source,
                                             WallClock clock)
    : fetch_(std::move(fetch)), source_(std::move(source)), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return Clock::now(); };
}

RefreshingCredentials::~RefreshingCredentials() {
  if (refresh_.valid()) refresh_.wait();  // the fetch thread must not outlive what it uses
}

Clock::time_point RefreshingCredentials::refresh_due(Clock::time_point fetched,
                                                     Clock::time_point expiration) {
  const auto lifetime = expiration > fetched ? expiration - fetched : Clock::duration::zero();
  const Clock::duration margin = std::min<Clock::duration>(std::chrono::minutes(5), lifetime / 2);
  return expiration - margin;
}

Status RefreshingCredentials::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return Ok{};  // both buckets may share one source
  }
  auto first = fetch_();
  if (!first) {
    Error e = first.error();
    e.message = fmt::format("credentials from {}: {}", source_, e.message);
    return e;
  }
  std::lock_guard lock(mutex_);
  const auto now = clock_();
  if (first->expiration && *first->expiration <= now) {
    return Error::invalid_input(fmt::format(
        "credentials from {} expired already (at {:%Y-%m-%dT%H:%M:%SZ}): check the source, and "
        "this machine's clock",
        source_, fmt::gmtime(Clock::to_time_t(*first->expiration))));
  }
  current_ = std::move(first.value());
  due_ = current_.expiration ? refresh_due(now, *current_.expiration) : Clock::time_point::max();
  fetched_at_ = now;
  next_try_ = now + kMinRefreshInterval;
  started_ = true;
  return Ok{};
}

void RefreshingCredentials::settle_refresh_locked(Clock::time_point now) {
  if (!refresh_.valid() ||
      refresh_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return;
  }
  Result<TimedCredentials> got = refresh_.get();
  if (got) {
    current_ = std::move(got.value());
    due_ = current_.expiration ? refresh_due(now, *current_.expiration) : Clock::time_point::max();
    fetched_at_ = now;
    next_try_ = now + kMinRefreshInterval;
    backoff_ = std::chrono::seconds(1);
    ++refreshes_;
    last_failure_.reset();
    return;
  }
  // Keep signing with the old ones while they last; try again later.
  last_failure_ = got.error().message;
  next_try_ = now + backoff_;
  backoff_ = std::min<std::chrono::seconds>(backoff_ * 2, kMaxBackoff);
}

void RefreshingCredentials::start_refresh_locked(Clock::time_point now) {
  if (refresh_.valid() || now < next_try_) return;
  refresh_ = std::async(std::launch::async, fetch_);
}

Credentials RefreshingCredentials::current() {
  std::lock_guard lock(mutex_);
  const auto now = clock_();
  settle_refresh_locked(now);
  if (now >= due_) start_refresh_locked(now);
  return current_.credentials;
}

void RefreshingCredentials::expired(const std::string& access_key_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_();
  settle_refresh_locked(now);
  if (current_.credentials.access_key_id != access_key_id) return;  // replaced already
  // The server's word outranks the minimum interval, but not within a few seconds of a fetch
  // (a source whose fresh credentials are refused would otherwise be run in a loop).
  if (now < fetched_at_ + std::chrono::seconds(2)) return;
  due_ = std::min(due_, now);
  next_try_ = std::min(next_try_, now);
  start_refresh_locked(now);
}

bool RefreshingCredentials::lapsed() {
  std::lock_guard lock(mutex_);
  const auto now = clock_();
  settle_refresh_locked(now);
  if (now >= due_) start_refresh_locked(now);
  return current_.expiration && now >= *current_.expiration;
}

bool RefreshingCredentials::stale(const std::string& access_key_id) {
  std::lock_guard lock(mutex_);
  const auto now = clock_();
  settle_refresh_locked(now);
  return current_.credentials.access_key_id != access_key_id ||
         (current_.expiration && now >= *current_.expiration);
}

std::optional<Clock::time_point> RefreshingCredentials::expiration() const {
  std::lock_guard lock(mutex_);
  return current_.expiration;
}

int RefreshingCredentials::refreshes() const {
  std::lock_guard lock(mutex_);
  return refreshes_;
}

std::optional<std::string> RefreshingCredentials::last_failure() const {
  std::lock_guard lock(mutex_);
  return last_failure_;
}

std::optional<Clock::time_point> parse_iso8601_utc(std::string_view text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char sep = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &year, &month, &day, &sep, &hour, &minute,
                  &second) != 7 ||
      (sep != 'T' && sep != 't' && sep != ' ')) {
    return std::nullopt;
  }
  // Only UTC: "Z", "+00:00", or nothing (taken as UTC, as the SDKs do).
  const auto tail = s.find_first_of("Zz+-", 19);
  if (tail != std::string::npos) {
    const std::string zone = s.substr(tail);
    if (zone != "Z" && zone != "z" && zone != "+00:00" && zone != "-00:00" && zone != "+0000") {
      return std::nullopt;
    }
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return Clock::from_time_t(t);
}

Result<TimedCredentials> parse_credential_process_output(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error::invalid_input("its output is not a JSON object");
  }
  if (!doc.contains("Version") || doc["Version"] != 1) {
    return Error::invalid_input("its output has no \"Version\": 1");
  }
  auto text = [&](const char* name) -> std::string {
    auto it = doc.find(name);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  TimedCredentials out;
  out.credentials.access_key_id = text("AccessKeyId");
  out.credentials.secret_access_key = text("SecretAccessKey");
  out.credentials.session_token = text("SessionToken");
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty()) {
    return Error::invalid_input("its output lacks AccessKeyId or SecretAccessKey");
  }
  if (const std::string expiration = text("Expiration"); !expiration.empty()) {
    out.expiration = parse_iso8601_utc(expiration);
    if (!out.expiration) {
      return Error::invalid_input(
          fmt::format("its Expiration \"{}\" is not an ISO 8601 UTC time", expiration));
    }
  }
  return out;
}

Result<TimedCredentials> run_credential_process(const std::string& command) {
  // stderr goes to a file of its own so its first line can explain a failure; stdout (which
  // holds the secret) is only parsed, never repeated.
  std::FILE* err = std::tmpfile();
  // The whole command line's stderr (it may be a list of commands), not only its last one's;
  // and a command that hangs (an MFA prompt, a browser login) is killed (coreutils timeout).
  std::string quoted = "'";
  for (char c : command) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  const std::string shell =
      fmt::format("timeout -k 5 {} /bin/sh -c {}{}", kProcessTimeoutSeconds, quoted,
                  err ? fmt::format(" 2>/dev/fd/{}", fileno(err)) : std::string());
  std::FILE* pipe = popen(shell.c_str(), "r");
  if (pipe == nullptr) {
    if (err) std::fclose(err);
    return Error::invalid_input("credential_process could not be started");
  }
  std::string out;
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    out.append(buffer.data(), n);
  const int status = pclose(pipe);
  std::string first_error_line;
  if (err) {
    std::rewind(err);
    std::array<char, 512> line{};
    if (std::fgets(line.data(), static_cast<int>(line.size()), err)) first_error_line = line.data();
    std::fclose(err);
    while (!first_error_line.empty() &&
           (first_error_line.back() == '\n' || first_error_line.back() == '\r')) {
      first_error_line.pop_back();
    }
  }
  if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 124) {
    return Error::invalid_input(
        fmt::format("credential_process did not answer within {} s (is it waiting for input?)",
                    kProcessTimeoutSeconds));
  }
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Error::invalid_input(fmt::format(
        "credential_process failed (exit {}){}", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
        first_error_line.empty() ? "" : ": " + first_error_line));
  }
  auto parsed = parse_credential_process_output(out);
  if (!parsed) {
    Error e = parsed.error();
    e.message = "credential_process: " + e.message;
    return e;
  }
  return parsed;
}

}  // namespace rehome::s3
