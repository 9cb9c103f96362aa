// The event loop's transfers against a scripted loopback server: methods, headers, sinks,
// transport errors and what happens when a completion throws. (Timers: src/http/loop_test.cc.)
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "http/loop.h"
#include "scripted_server.h"

namespace rehome::http {
namespace {

using testing::response;
using testing::ScriptedServer;

Request get(std::string url, std::string method = "GET") {
  Request request;
  request.method = std::move(method);
  request.url = std::move(url);
  return request;
}

Response fetch(Loop& loop, Request request) {
  Response out;
  bool done = false;
  loop.submit(std::move(request), [&](Response&& r) {
    out = std::move(r);
    done = true;
  });
  loop.run();
  EXPECT_TRUE(done);
  return out;
}

TEST(LoopTransfers, get_collects_status_lower_cased_headers_and_body) {
  ScriptedServer server({response(200, "OK", "hello", "ETag: \"e1\"\r\nX-Amz-Request-Id: r\r\n")});
  Loop loop;
  Response r = fetch(loop, get(server.endpoint() + "/b/k"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.curl_code, 0);
  EXPECT_EQ(r.body, "hello");
  ASSERT_NE(r.header("etag"), nullptr);
  EXPECT_EQ(*r.header("etag"), "\"e1\"");
  ASSERT_NE(r.header("x-amz-request-id"), nullptr);
  EXPECT_TRUE(r.transport_error.empty());
}

TEST(LoopTransfers, head_does_not_wait_for_the_body_its_content_length_announces) {
  ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"});
  Loop loop;
  Request request;
  request.method = "HEAD";
  request.url = server.endpoint() + "/b/k";
  request.timeout = std::chrono::milliseconds(5000);
  Response r = fetch(loop, std::move(request));
  EXPECT_EQ(r.status, 200) << r.transport_error;
  EXPECT_EQ(r.curl_code, 0) << r.transport_error;
  EXPECT_EQ(*r.header("content-length"), "5000");
  EXPECT_TRUE(server.requests().at(0).starts_with("HEAD /b/k HTTP/1.1\r\n"));
}

TEST(LoopTransfers, put_sends_the_body_with_its_length_and_no_expect_header) {
  ScriptedServer server({response(200, "OK", "")});
  Loop loop;
  Request request;
  request.method = "PUT";
  request.url = server.endpoint() + "/b/a%20b";
  request.headers = {{"x-amz-meta-a", "1"}};
  request.body = std::string(70'000, 'p');  // past curl's 64 KB upload buffer
  Response r = fetch(loop, std::move(request));
  ASSERT_EQ(r.status, 200) << r.transport_error;
  const std::string sent = server.requests().at(0);
  EXPECT_TRUE(sent.starts_with("PUT /b/a%20b HTTP/1.1\r\n")) << sent.substr(0, 200);
  EXPECT_NE(sent.find("Content-Length: 70000\r\n"), std::string::npos);
  EXPECT_NE(sent.find("x-amz-meta-a: 1\r\n"), std::string::npos);
  EXPECT_EQ(sent.find("Expect:"), std::string::npos);
  EXPECT_TRUE(sent.ends_with(std::string(70'000, 'p')));
}

TEST(LoopTransfers, path_is_sent_as_is_without_dot_segment_removal) {
  ScriptedServer server({response(200, "OK", "")});
  Loop loop;
  fetch(loop, get(server.endpoint() + "/b/x/../y/./z"));
  EXPECT_TRUE(server.requests().at(0).starts_with("GET /b/x/../y/./z HTTP/1.1\r\n"));
}

TEST(LoopTransfers, delete_uses_the_method_and_sends_no_body) {
  ScriptedServer server({response(204, "No Content", "")});
  Loop loop;
  Response r = fetch(loop, get(server.endpoint() + "/b/k", "DELETE"));
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(server.requests().at(0).starts_with("DELETE /b/k HTTP/1.1\r\n"));
}

TEST(LoopTransfers, sink_gets_a_2xx_body_and_an_error_body_stays_in_the_response) {
  ScriptedServer server({response(200, "OK", "data"), response(404, "Not Found", "<Error/>")});
  Loop loop;
  std::string sunk;
  Request request;
  request.url = server.endpoint() + "/b/k";
  request.body_sink = [&](std::string_view chunk) {
    sunk.append(chunk);
    return true;
  };
  Response ok = fetch(loop, request);
  EXPECT_EQ(sunk, "data");
  EXPECT_EQ(ok.body, "");
  Response missing = fetch(loop, request);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "<Error/>");
  EXPECT_EQ(sunk, "data");
}

TEST(LoopTransfers, a_throwing_body_source_fails_the_transfer_with_its_message) {
  ScriptedServer server({response(200, "OK", "")});
  Loop loop;
  Request request;
  request.method = "PUT";
  request.url = server.endpoint() + "/b/k";
  request.body_length = 10;
  request.body_source = [](char*, std::size_t) -> std::size_t {
    throw std::runtime_error("disk gone");
  };
  Response r = fetch(loop, std::move(request));
  EXPECT_NE(r.curl_code, 0);
  EXPECT_NE(r.transport_error.find("disk gone"), std::string::npos) << r.transport_error;
}

TEST(LoopTransfers, a_closed_connection_is_a_transport_error) {
  ScriptedServer server({""});
  Loop loop;
  Response r = fetch(loop, get(server.endpoint() + "/b/k"));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.curl_code, 0);
  EXPECT_FALSE(r.transport_error.empty());
}

TEST(LoopTransfers, a_throwing_completion_escapes_run_and_the_others_still_complete) {
  ScriptedServer server({response(200, "OK", "x")});
  Loop loop;
  int completed = 0;
  for (int i = 0; i < 3; ++i) {
    loop.submit(get(server.endpoint() + "/" + std::to_string(i)), [&](Response&&) {
      if (++completed == 1) throw std::logic_error("bug in a completion");
    });
  }
  EXPECT_THROW(loop.run(), std::logic_error);
  loop.run();
  EXPECT_EQ(completed, 3);
  EXPECT_EQ(loop.in_flight(), 0u);
}

TEST(LoopTransfers, a_completion_may_submit_the_next_request) {
  ScriptedServer server({response(200, "OK", "x")});
  Loop loop;
  std::vector<long> statuses;
  std::function<void(Response &&)> next = [&](Response&& r) {
    statuses.push_back(r.status);
    if (statuses.size() < 5) loop.submit(get(server.endpoint() + "/again"), next);
  };
  loop.submit(get(server.endpoint() + "/first"), next);
  loop.run();
  EXPECT_EQ(statuses, (std::vector<long>(5, 200)));
}

}  // namespace
}  // namespace rehome::http
