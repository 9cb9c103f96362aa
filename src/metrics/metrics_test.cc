#include "metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "http/blocking.h"

namespace rehome::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TEST(CheckAddress, takes_host_and_port_forms) {
  EXPECT_TRUE(check_address("127.0.0.1:9464"));
  EXPECT_TRUE(check_address("0.0.0.0:0"));
  EXPECT_TRUE(check_address(":9464"));
  EXPECT_TRUE(check_address("localhost:9464"));
}

TEST(CheckAddress, says_what_is_wrong_and_what_to_give) {
  auto no_port = check_address("127.0.0.1");
  ASSERT_FALSE(no_port);
  EXPECT_EQ(no_port.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(no_port.error().message, HasSubstr("no port"));
  EXPECT_THAT(no_port.error().message, HasSubstr("127.0.0.1:9464"));
  EXPECT_THAT(check_address("127.0.0.1:http").error().message, HasSubstr("0 to 65535"));
  EXPECT_THAT(check_address("127.0.0.1:65536").error().message, HasSubstr("0 to 65535"));
  EXPECT_THAT(check_address("127.0.0.1:").error().message, HasSubstr("0 to 65535"));
  EXPECT_THAT(check_address("[::1]:9464").error().message, HasSubstr("IPv4 only"));
  EXPECT_THAT(check_address("::1:9464").error().message, HasSubstr("IPv4 only"));
  EXPECT_THAT(check_address("127.0.0.1,127.0.0.2:9464").error().message,
              HasSubstr("one address only"));
}

TEST(Metrics, counts_requests_by_operation_and_status_with_their_durations) {
  Metrics m;
  m.sent("CopyObject");
  m.sent("CopyObject");
  m.sent("HeadObject");
  m.answered("CopyObject", 200, 30ms);
  m.answered("CopyObject", 503, 2ms);
  m.throttled("CopyObject");
  m.retried("CopyObject");
  const std::string text = m.text();
  EXPECT_THAT(text, HasSubstr("rehome_requests_total{operation=\"CopyObject\",status=\"200\"} 1"));
  EXPECT_THAT(text, HasSubstr("rehome_requests_total{operation=\"CopyObject\",status=\"503\"} 1"));
  EXPECT_THAT(text, HasSubstr("rehome_requests_in_flight 1"));  // the HEAD, still unanswered
  EXPECT_THAT(text, HasSubstr("rehome_throttled_total 1"));
  EXPECT_THAT(text, HasSubstr("rehome_retries_total 1"));
  EXPECT_THAT(text, HasSubstr("rehome_request_duration_seconds_count{operation=\"CopyObject\"} 2"));
  EXPECT_THAT(text, HasSubstr("rehome_request_duration_seconds_bucket{operation=\"CopyObject\","
                              "le=\"0.005\"} 1"));
  EXPECT_THAT(text, HasSubstr("rehome_request_duration_seconds_bucket{operation=\"CopyObject\","
                              "le=\"0.05\"} 2"));
}

TEST(Metrics, an_abandoned_request_is_no_longer_in_flight_and_no_answer) {
  Metrics m;
  m.sent("CopyObject");
  m.abandoned("CopyObject");
  EXPECT_THAT(m.text(), HasSubstr("rehome_requests_in_flight 0"));
  EXPECT_THAT(m.text(), Not(HasSubstr("rehome_requests_total{")));
}

TEST(Metrics, a_request_that_got_no_answer_has_status_0) {
  Metrics m;
  m.sent("ListObjectsV2");
  m.answered("ListObjectsV2", 0, 5s);
  EXPECT_THAT(m.text(),
              HasSubstr("rehome_requests_total{operation=\"ListObjectsV2\",status=\"0\"} 1"));
  EXPECT_THAT(m.text(), HasSubstr("rehome_requests_in_flight 0"));
}

TEST(Metrics, totals_advance_and_never_go_back) {
  Metrics m;
  m.set_objects("copied", 10);
  m.set_objects("already_copied", 3);
  m.set_rows_rewritten(7);
  m.set_objects("copied", 4);  // a stale total: the counter stays where it is
  m.set_rows_rewritten(9);
  const std::string text = m.text();
  EXPECT_THAT(text, HasSubstr("rehome_objects_total{outcome=\"copied\"} 10"));
  EXPECT_THAT(text, HasSubstr("rehome_objects_total{outcome=\"already_copied\"} 3"));
  EXPECT_THAT(text, HasSubstr("rehome_rows_rewritten_total 9"));
  EXPECT_THAT(text, HasSubstr("# TYPE rehome_objects_total counter"));
}

TEST(Metrics, gauges_follow_what_they_are_set_to) {
  Metrics m;
  m.set_ranges("keys", "done", 5);
  m.set_ranges("keys", "done", 6);
  m.set_ranges("rows", "waiting", 2);
  m.set_rate_limit("production", 187.5);
  m.set_info("image/->avatar/", "0.1.0", "42");
  const std::string text = m.text();
  EXPECT_THAT(text, HasSubstr("rehome_ranges{kind=\"keys\",state=\"done\"} 6"));
  EXPECT_THAT(text, HasSubstr("rehome_ranges{kind=\"rows\",state=\"waiting\"} 2"));
  EXPECT_THAT(text, HasSubstr("rehome_rate_limit_per_second{endpoint=\"production\"} 187.5"));
  EXPECT_THAT(text, HasSubstr("rehome_job_info{job=\"image/->avatar/\",version=\"0.1.0\","
                              "worker=\"42\"} 1"));
}

TEST(Metrics, serves_the_text_format_at_slash_metrics) {
  auto served = Metrics::serve("127.0.0.1:0");
  ASSERT_TRUE(served) << served.error().message;
  Metrics& m = **served;
  ASSERT_GT(m.port(), 0);
  m.set_rows_rewritten(12);
  http::Request request;
  request.method = "GET";
  request.url = "http://127.0.0.1:" + std::to_string(m.port()) + "/metrics";
  request.timeout = 10s;
  http::Response response = http::perform(request);
  ASSERT_EQ(response.status, 200) << response.transport_error;
  EXPECT_THAT(response.body, HasSubstr("rehome_rows_rewritten_total 12"));
  EXPECT_THAT(*response.header("content-type"), HasSubstr("text/plain"));
}

http::Response scrape(const Metrics& m) {
  http::Request request;
  request.method = "GET";
  request.url = "http://127.0.0.1:" + std::to_string(m.port()) + "/metrics";
  request.timeout = 10s;
  return http::perform(request);
}

TEST(Metrics, waits_for_a_scrape_that_begins_after_the_wait) {
  auto served = Metrics::serve("127.0.0.1:0");
  ASSERT_TRUE(served) << served.error().message;
  Metrics& m = **served;
  EXPECT_FALSE(m.scraped());
  EXPECT_FALSE(m.await_scrape(50ms)) << "nothing scrapes";
  ASSERT_EQ(scrape(m).status, 200);
  EXPECT_TRUE(m.scraped());
  EXPECT_FALSE(m.await_scrape(50ms)) << "the scrape before the wait does not count";
  m.set_rows_rewritten(5);  // the final total
  std::thread scraper([&] {
    std::this_thread::sleep_for(100ms);
    EXPECT_THAT(scrape(m).body, HasSubstr("rehome_rows_rewritten_total 5"));
  });
  EXPECT_TRUE(m.await_scrape(20s));
  scraper.join();
}

TEST(Metrics, an_address_in_use_is_refused_with_advice) {
  auto first = Metrics::serve("127.0.0.1:0");
  ASSERT_TRUE(first) << first.error().message;
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = Metrics::serve(taken);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, ErrorKind::kInvalidInput);
  EXPECT_THAT(second.error().message, HasSubstr(taken));
  EXPECT_THAT(second.error().message, HasSubstr("choose another --metrics-address"));
}

TEST(Metrics, unserved_metrics_have_no_port) {
  Metrics m;
  EXPECT_EQ(m.port(), 0);
  EXPECT_THAT(m.text(), Not(HasSubstr("rehome_job_info{")));
}

}  // namespace
}  // namespace rehome::metrics
