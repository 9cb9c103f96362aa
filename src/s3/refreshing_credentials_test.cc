// Refreshing temporary credentials: when a refresh is due, that requests never wait for it, that
// a failed refresh keeps the old credentials and is retried, and the credential_process
// protocol of the AWS CLI.
#include "s3/refreshing_credentials.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace rehome::s3 {
namespace {

using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

TimedCredentials creds(const std::string& key, std::optional<Clock::time_point> expiration) {
  TimedCredentials t;
  t.credentials = {key, "secret-" + key, "token-" + key, ""};
  t.expiration = expiration;
  return t;
}

// A source on a faked clock that hands out K1, K2... each valid `lifetime` from its `now`.
struct FakeSource {
  Clock::time_point now = Clock::now();
  std::atomic<int> fetches{0};

  FetchCredentials fetch(Clock::duration lifetime) {
    return [this, lifetime]() -> Result<TimedCredentials> {
      const int n = ++fetches;
      return creds(fmt::format("K{}", n), now + lifetime);
    };
  }
  WallClock clock() {
    return [this] { return now; };
  }
};

// current() until it returns `key` (the background refresh finished), for at most 5 s.
bool eventually_current(RefreshingCredentials& r, const std::string& key) {
  for (int i = 0; i < 500; ++i) {
    if (r.current().access_key_id == key) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(RefreshingCredentials, past_their_expiration_they_are_lapsed_and_stale_until_replaced) {
  FakeSource source;
  std::atomic<bool> failing{false};
  auto inner = source.fetch(1h);
  RefreshingCredentials r(
      [&]() -> Result<TimedCredentials> {
        if (failing) return Error::transient("the source is down");
        return inner();
      },
      "test source", source.clock());
  ASSERT_TRUE(r.start());
  EXPECT_FALSE(r.lapsed());
  EXPECT_FALSE(r.stale("K1"));
  EXPECT_TRUE(r.stale("K0")) << "a key that is not the current one";
  failing = true;
  source.now += 61min;  // past K1's expiration, every refresh failing
  EXPECT_TRUE(r.lapsed());
  EXPECT_TRUE(r.stale("K1")) << "a refusal of K1 is about K1, not the request";
  failing = false;
  // The failed refresh's backoff passes; the next one lands and they work again.
  for (int i = 0; i < 500 && r.current().access_key_id != "K2"; ++i) {
    source.now += 1s;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(r.current().access_key_id, "K2");
  EXPECT_FALSE(r.lapsed());
  EXPECT_FALSE(r.stale("K2"));
}

TEST(RefreshingCredentials, a_second_start_does_not_fetch_again) {
  FakeSource source;
  RefreshingCredentials r(source.fetch(1h), "test source", source.clock());
  ASSERT_TRUE(r.start());
  ASSERT_TRUE(r.start());  // both buckets share one source
  EXPECT_EQ(source.fetches, 1);
}

TEST(RefreshingCredentials, a_refresh_is_due_five_minutes_or_half_the_lifetime_before_expiry) {
  const auto t0 = Clock::now();
  EXPECT_EQ(RefreshingCredentials::refresh_due(t0, t0 + 1h), t0 + 55min);
  EXPECT_EQ(RefreshingCredentials::refresh_due(t0, t0 + 4min), t0 + 2min);  // not stale at once
  EXPECT_EQ(RefreshingCredentials::refresh_due(t0, t0 - 1min), t0 - 1min);  // already expired
}

TEST(RefreshingCredentials, requests_sign_with_the_old_ones_until_the_background_refresh_lands) {
  FakeSource source;
  RefreshingCredentials r(source.fetch(1h), "test source", source.clock());
  ASSERT_TRUE(r.start());
  EXPECT_EQ(r.current().access_key_id, "K1");
  source.now += 50min;  // not yet due
  EXPECT_EQ(r.current().access_key_id, "K1");
  EXPECT_EQ(source.fetches.load(), 1);
  source.now += 6min;  // due (55 min)
  EXPECT_TRUE(eventually_current(r, "K2"));
  EXPECT_EQ(r.refreshes(), 1);
}

TEST(RefreshingCredentials, a_failed_refresh_keeps_the_old_credentials_and_is_tried_again) {
  Clock::time_point now = Clock::now();
  std::atomic<int> fetches{0};
  RefreshingCredentials r(
      [&]() -> Result<TimedCredentials> {
        const int n = ++fetches;
        if (n == 2) return Error::transient("the metadata service is down");
        return creds(fmt::format("K{}", n), now + 1h);
      },
      "test source", [&] { return now; });
  ASSERT_TRUE(r.start());
  now += 56min;
  for (int i = 0; i < 200 && !r.last_failure(); ++i) {
    EXPECT_EQ(r.current().access_key_id, "K1");
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(r.last_failure());
  EXPECT_NE(r.last_failure()->find("metadata service is down"), std::string::npos);
  EXPECT_EQ(r.current().access_key_id, "K1");  // the backoff has not passed yet
  now += 2s;
  EXPECT_TRUE(eventually_current(r, "K3"));
  EXPECT_FALSE(r.last_failure());
}

TEST(RefreshingCredentials, credentials_the_server_calls_expired_are_refreshed_at_once) {
  FakeSource source;
  RefreshingCredentials r(source.fetch(1h), "test source", source.clock());
  ASSERT_TRUE(r.start());
  source.now += 3s;
  r.expired("K1");
  EXPECT_TRUE(eventually_current(r, "K2"));
  source.now += 3s;
  r.expired("K1");  // a request signed before the refresh: K1 is already replaced
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(r.current().access_key_id, "K2");
  EXPECT_EQ(source.fetches.load(), 2);
}

TEST(RefreshingCredentials, a_source_handing_out_nearly_expired_credentials_is_not_run_in_a_loop) {
  FakeSource source;
  RefreshingCredentials r(source.fetch(4s), "test source", source.clock());  // due at once
  ASSERT_TRUE(r.start());
  for (int i = 0; i < 20; ++i) {
    r.current();
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(source.fetches.load(), 1);  // not again within 10 s
  source.now += 11s;
  EXPECT_TRUE(eventually_current(r, "K2"));
}

TEST(RefreshingCredentials, credentials_expired_at_start_up_are_refused_with_a_clock_hint) {
  RefreshingCredentials r(
      []() -> Result<TimedCredentials> { return creds("K1", Clock::now() - 1min); }, "the source");
  auto st = r.start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("credentials from the source expired already"),
            std::string::npos)
      << st.error().message;
}

TEST(RefreshingCredentials, a_source_that_gives_nothing_at_start_up_says_which_and_why) {
  RefreshingCredentials r([]() -> Result<TimedCredentials> { return Error::invalid_input("no"); },
                          "credential_process of profile dev");
  auto st = r.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "credentials from credential_process of profile dev: no");
}

TEST(CredentialProcess, reads_the_aws_cli_document) {
  auto t = parse_credential_process_output(
      R"({"Version": 1, "AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t",
          "Expiration": "2026-12-03T18:30:00Z"})");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->credentials.access_key_id, "ASIA1");
  EXPECT_EQ(t->credentials.session_token, "t");
  ASSERT_TRUE(t->expiration);
  EXPECT_EQ(Clock::to_time_t(*t->expiration), 1796322600);
  auto forever = parse_credential_process_output(
      R"({"Version": 1, "AccessKeyId": "AKIA1", "SecretAccessKey": "s"})");
  ASSERT_TRUE(forever);
  EXPECT_FALSE(forever->expiration);
}

TEST(CredentialProcess, refuses_a_document_it_cannot_trust_without_quoting_it) {
  EXPECT_FALSE(parse_credential_process_output("not json"));
  EXPECT_FALSE(parse_credential_process_output(R"({"AccessKeyId": "A", "SecretAccessKey": "s"})"));
  EXPECT_FALSE(parse_credential_process_output(R"({"Version": 1, "AccessKeyId": "A"})"));
  auto bad = parse_credential_process_output(
      R"({"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "hush", "Expiration": "soon"})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.find("hush"), std::string::npos);
}

TEST(CredentialProcess, a_command_with_quotes_runs_as_written) {
  auto ok = run_credential_process(
      R"(echo '{"Version": 1, "AccessKeyId": "it'"'"'s", "SecretAccessKey": "x"}')");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->credentials.access_key_id, "it's");
}

TEST(CredentialProcess, runs_the_command_and_reports_its_failure_by_its_stderr) {
  auto ok = run_credential_process(
      R"(printf '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "x"}')");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->credentials.access_key_id, "AKIDPROC");
  auto failed = run_credential_process(
      "echo '{\"SecretAccessKey\": \"leak\"}'; echo 'token expired, "
      "run sso login' >&2; exit 3");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message,
            "credential_process failed (exit 3): token expired, run sso login");
}

TEST(Iso8601, reads_utc_times_as_the_sdks_write_them) {
  EXPECT_EQ(Clock::to_time_t(*parse_iso8601_utc("2026-12-03T18:30:00Z")), 1796322600);
  EXPECT_EQ(Clock::to_time_t(*parse_iso8601_utc("2026-12-03T18:30:00.123Z")), 1796322600);
  EXPECT_EQ(Clock::to_time_t(*parse_iso8601_utc("2026-12-03T18:30:00+00:00")), 1796322600);
  EXPECT_FALSE(parse_iso8601_utc("2026-12-03T18:30:00+02:00"));
  EXPECT_FALSE(parse_iso8601_utc("yesterday"));
}

}  // namespace
}  // namespace rehome::s3
