// Temporary credentials that outlive no job: fetched once at start-up, refreshed in the
// background once less than min(5 minutes, half their lifetime) of validity remains (so that
// short-lived ones are not stale from the start), a failed refresh retried with backoff for as
// long as the old ones are valid. Requests never wait for a refresh: they sign with what is
// current, and a request the server refuses as expired asks for a refresh at once
// (expired()). The fetch itself (a process, an HTTP endpoint) is blocking and runs on a thread
// of its own, never on the event loop's.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>

#include "s3/types.h"
#include "util/result.h"

namespace rehome::s3 {

struct TimedCredentials {
  Credentials credentials;
  /// When they stop working; nullopt for credentials that do not expire.
  std::optional<std::chrono::system_clock::time_point> expiration;
};

/// One fetch of fresh credentials (blocking: runs on a thread of its own).
using FetchCredentials = std::function<Result<TimedCredentials>()>;
using WallClock = std::function<std::chrono::system_clock::time_point()>;

class RefreshingCredentials {
 public:
  /// `source` names where they come from, for messages ("credential_process in profile dev").
  RefreshingCredentials(FetchCredentials fetch, std::string source, WallClock clock = {});
  ~RefreshingCredentials();
  RefreshingCredentials(const RefreshingCredentials&) = delete;
  RefreshingCredentials& operator=(const RefreshingCredentials&) = delete;

  /// The first fetch, synchronous: a source that cannot give credentials fails the command at
  /// start-up, with its reason. Once it succeeded, later calls do nothing.
  Status start();
  /// The credentials to sign with now. Starts a background refresh when one is due (or picks up
  /// one that finished); never waits for it.
  Credentials current();
  /// The server refused credentials with this access key id as expired or invalid: refresh at
  /// once, unless they were already replaced (or a refresh is under way).
  void expired(const std::string& access_key_id);
  /// True when the current credentials are past their stated expiration: a refresh keeps
  /// failing. Requests then wait for new ones instead of signing with dead ones (a server that
  /// removed a key answers AccessDenied, which would fail objects one by one). Starts a refresh
  /// when one is due, like current().
  bool lapsed();
  /// True when credentials with this key id are not the current ones any more, or are past
  /// their stated expiration: a refusal of a request signed with them says nothing about the
  /// request itself.
  bool stale(const std::string& access_key_id);
  /// When the current credentials stop working (nullopt: they do not expire).
  std::optional<std::chrono::system_clock::time_point> expiration() const;

  const std::string& source() const { return source_; }
  /// Refreshes made so far (successful ones), and the last refresh failure, for messages.
  int refreshes() const;
  std::optional<std::string> last_failure() const;

  /// When a refresh is due for credentials fetched at `fetched` that expire at `expiration`:
  /// once less than min(5 minutes, half their lifetime) remains.
  static std::chrono::system_clock::time_point refresh_due(
      std::chrono::system_clock::time_point fetched,
      std::chrono::system_clock::time_point expiration);

 private:
  void settle_refresh_locked(std::chrono::system_clock::time_point now);
  void start_refresh_locked(std::chrono::system_clock::time_point now);

  FetchCredentials fetch_;
  std::string source_;
  WallClock clock_;
  mutable std::mutex mutex_;
  TimedCredentials current_;
  bool started_ = false;
  std::chrono::system_clock::time_point due_ = std::chrono::system_clock::time_point::max();
  std::chrono::system_clock::time_point next_try_{};
  std::chrono::system_clock::time_point fetched_at_{};
  std::chrono::seconds backoff_{1};
  std::future<Result<TimedCredentials>> refresh_;
  int refreshes_ = 0;
  std::optional<std::string> last_failure_;
};

/// Runs an AWS CLI `credential_process` command (through /bin/sh -c) and reads its JSON:
/// {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"? (ISO 8601)}.
/// A non-zero exit, or output that is not that document, fails with the reason (its stderr's
/// first line, never the output: it holds a secret).
Result<TimedCredentials> run_credential_process(const std::string& command);

/// Parses a credential_process document (exposed for tests).
Result<TimedCredentials> parse_credential_process_output(std::string_view json);

/// Parses "2026-12-03T18:30:00Z" (also with fractional seconds or a +00:00 offset).
std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(std::string_view text);

}  // namespace rehome::s3
