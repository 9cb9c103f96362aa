// The client's failure handling, against a scripted HTTP server on loopback: throttling,
// server faults, cut connections and bodies that cannot be re-sent. Real S3 servers cannot be
// made to fail on cue; this one answers each connection with the next canned response.
// Needs no external service, so it never skips.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/loop.h"
#include "s3/client.h"
#include "s3/pacer.h"
#include "scripted_server.h"
#include "util/crypto.h"

namespace rehome::s3 {
namespace {

using testing::response;
using testing::ScriptedServer;

std::string error_xml(const std::string& code) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code +
         "</Code><Message>scripted</Message><RequestId>r1</RequestId></Error>";
}

const std::string kSlowDown = response(503, "Slow Down", error_xml("SlowDown"));
const std::string kInternalError =
    response(500, "Internal Server Error", error_xml("InternalError"));
const std::string kHeadOk = response(200, "OK", "", "ETag: \"abc\"\r\n");

class S3ClientRetryTest : public ::testing::Test {
 protected:
  std::unique_ptr<Client> client_for(const std::string& endpoint, int max_attempts = 4) {
    ClientConfig config;
    config.endpoint.url = endpoint;
    config.credentials = {"AKIDRETRY", "retry-secret-never-shown", "", "test"};
    RetryPolicy retry;
    retry.max_attempts = max_attempts;
    retry.base = std::chrono::milliseconds(1);
    retry.cap = std::chrono::milliseconds(5);
    return std::make_unique<Client>(loop_, pacer_, config, retry);
  }

  template <typename T, typename Start>
  Result<T> run(Start&& start) {
    return run_to_completion<T>(loop_, std::forward<Start>(start));
  }

  http::Loop loop_;
  Pacer pacer_{loop_, PacerOptions{}};
};

TEST_F(S3ClientRetryTest, throttling_is_retried_and_slows_the_pacer) {
  ScriptedServer server({kSlowDown, kSlowDown, kHeadOk});
  auto client = client_for(server.endpoint());
  auto info = run<ObjectInfo>([&](auto done) { client->head_object("b", "k", done); });
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->etag, "abc");
  EXPECT_EQ(client->stats().requests, 3u);
  EXPECT_EQ(client->stats().retries, 2u);
  EXPECT_EQ(client->stats().throttled, 2u);
  EXPECT_EQ(client->stats().failures, 0u);
  // The pacer limits from the first 503 on; the second, to a request sent after that cut, may
  // cut again (once past the cooling period), never more.
  EXPECT_GE(pacer_.stats().throttle_events, 1u);
  EXPECT_LE(pacer_.stats().throttle_events, 2u);
  EXPECT_GT(pacer_.stats().current_rps_limit, 0);
}

// Issue 18, section 4: a bucket in another region than the configured one. AWS answers 400
// AuthorizationHeaderMalformed with x-amz-bucket-region (301 PermanentRedirect on the global
// endpoint); the client learns the region once, re-signs for it at once (no backoff), and signs
// every later request to that bucket for it.
TEST_F(S3ClientRetryTest, a_bucket_in_another_region_is_learned_once_and_requests_re_signed) {
  const std::string wrong_region = response(
      400, "Bad Request",
      "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; "
      "expecting 'eu-west-3'</Message><Region>eu-west-3</Region></Error>",
      "x-amz-bucket-region: eu-west-3\r\n");
  ScriptedServer server({wrong_region, kHeadOk, kHeadOk});
  auto client = client_for(server.endpoint());
  for (int i = 0; i < 2; ++i) {
    auto info = run<ObjectInfo>([&](auto done) { client->head_object("b", "k", done); });
    ASSERT_TRUE(info) << info.error().message;
  }
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_NE(requests[0].find("/us-east-1/s3/aws4_request"), std::string::npos) << requests[0];
  EXPECT_NE(requests[1].find("/eu-west-3/s3/aws4_request"), std::string::npos) << requests[1];
  EXPECT_NE(requests[2].find("/eu-west-3/s3/aws4_request"), std::string::npos) << requests[2];
  EXPECT_EQ(client->stats().retries, 0u);  // not a retry: the same request, now addressed right
}

TEST_F(S3ClientRetryTest, a_wrong_region_the_server_does_not_name_says_which_setting_to_fix) {
  ScriptedServer server(
      {response(301, "Moved Permanently",
                "<Error><Code>PermanentRedirect</Code><Message>The bucket you are "
                "attempting to access must be addressed using the specified "
                "endpoint.</Message></Error>")});
  auto client = client_for(server.endpoint(), 1);
  auto info = run<ObjectInfo>([&](auto done) { client->head_object("b", "k", done); });
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message.find("set --region (or --legacy-region / --production-region) to "
                                      "the bucket's region"),
            std::string::npos)
      << info.error().message;
}

TEST_F(S3ClientRetryTest, server_faults_are_retried_until_attempts_run_out) {
  ScriptedServer server({kInternalError});
  auto client = client_for(server.endpoint(), 3);
  GetRequest request;
  request.bucket = "b";
  request.key = "image/a.png";
  auto got = run<GetResult>([&](auto done) { client->get_object(std::move(request), done); });
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, ErrorKind::kTransient);
  EXPECT_EQ(got.error().code, "InternalError");
  EXPECT_EQ(client->stats().requests, 3u);
  EXPECT_EQ(client->stats().retries, 2u);
  EXPECT_EQ(client->stats().failures, 1u);
  EXPECT_NE(got.error().message.find("GET s3://b/image/a.png at " + server.endpoint()),
            std::string::npos)
      << got.error().message;
  EXPECT_EQ(got.error().message.find("retry-secret-never-shown"), std::string::npos);
  EXPECT_EQ(pacer_.in_flight(), 0u);
}

TEST_F(S3ClientRetryTest, not_found_is_not_retried) {
  ScriptedServer server({response(404, "Not Found", "")});
  auto client = client_for(server.endpoint());
  auto info = run<ObjectInfo>([&](auto done) { client->head_object("b", "k", done); });
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(client->stats().requests, 1u);
}

TEST_F(S3ClientRetryTest, refused_connections_are_retried_as_transient) {
  std::string endpoint;
  {
    ScriptedServer gone({kHeadOk});
    endpoint = gone.endpoint();
  }  // nothing listens there now
  auto client = client_for(endpoint, 2);
  auto info = run<ObjectInfo>([&](auto done) { client->head_object("b", "k", done); });
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().kind, ErrorKind::kTransient) << info.error().message;
  EXPECT_EQ(client->stats().requests, 2u);
}

TEST_F(S3ClientRetryTest, cut_get_restarts_the_sink_and_delivers_the_body_once) {
  const std::string body(1000, 'b');
  const std::string cut =
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + body.substr(0, 400);
  ScriptedServer server({cut, response(200, "OK", body)});
  auto client = client_for(server.endpoint());
  std::string received;
  int restarts = 0;
  GetRequest request;
  request.bucket = "b";
  request.key = "k";
  request.body_sink = [&](std::string_view chunk) {
    received.append(chunk);
    return true;
  };
  request.on_restart = [&] {
    ++restarts;
    received.clear();
  };
  auto got = run<GetResult>([&](auto done) { client->get_object(std::move(request), done); });
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(restarts, 1);
  EXPECT_EQ(received, body);
}

TEST_F(S3ClientRetryTest, streamed_put_without_rewind_is_not_retried) {
  ScriptedServer server({kInternalError, response(200, "OK", "", "ETag: \"e\"\r\n")});
  auto client = client_for(server.endpoint());
  PutRequest request;
  request.bucket = "b";
  request.key = "k";
  request.body_length = 3;
  bool sent = false;
  request.body_source = [&sent](char* out, std::size_t) -> std::size_t {
    if (sent) return 0;
    sent = true;
    std::copy_n("abc", 3, out);
    return 3;
  };
  auto stored = run<ObjectInfo>([&](auto done) { client->put_object(std::move(request), done); });
  ASSERT_FALSE(stored);
  EXPECT_EQ(stored.error().kind, ErrorKind::kTransient);
  EXPECT_EQ(client->stats().requests, 1u);
}

TEST_F(S3ClientRetryTest, streamed_put_with_rewind_is_sent_again_in_full) {
  ScriptedServer server({kInternalError, response(200, "OK", "", "ETag: \"e\"\r\n")});
  auto client = client_for(server.endpoint());
  const std::string body = "streamed body";
  auto offset = std::make_shared<std::size_t>(0);
  int rewinds = 0;
  PutRequest request;
  request.bucket = "b";
  request.key = "k";
  request.body_length = static_cast<std::int64_t>(body.size());
  request.body_source = [&body, offset](char* out, std::size_t size) {
    std::size_t n = std::min(size, body.size() - *offset);
    std::copy_n(body.data() + *offset, n, out);
    *offset += n;
    return n;
  };
  request.rewind = [offset, &rewinds] {
    ++rewinds;
    *offset = 0;
    return true;
  };
  auto stored = run<ObjectInfo>([&](auto done) { client->put_object(std::move(request), done); });
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(rewinds, 1);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& sent : requests) {
    EXPECT_TRUE(sent.ends_with("\r\n\r\n" + body)) << sent;
    EXPECT_NE(sent.find("UNSIGNED-PAYLOAD"), std::string::npos);
  }
}

TEST_F(S3ClientRetryTest, copy_answered_200_with_an_error_document_is_retried) {
  const std::string copied =
      "<CopyObjectResult><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
      "<ETag>\"0123\"</ETag></CopyObjectResult>";
  ScriptedServer server(
      {response(200, "OK", error_xml("InternalError")), response(200, "OK", copied)});
  auto client = client_for(server.endpoint());
  CopyRequest request;
  request.source_bucket = "legacy";
  request.source_key = "image/a b+c.png";
  request.bucket = "production";
  request.key = "avatar/a b+c.png";
  auto result = run<CopyResult>([&](auto done) { client->copy_object(std::move(request), done); });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->etag, "0123");
  EXPECT_EQ(client->stats().retries, 1u);
  auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_NE(requests[0].find("x-amz-copy-source: /legacy/image/a%20b%2Bc.png\r\n"),
            std::string::npos)
      << requests[0];
  EXPECT_NE(requests[0].find("PUT /production/avatar/a%20b%2Bc.png HTTP/1.1"), std::string::npos);
}

TEST_F(S3ClientRetryTest, copy_answered_200_without_an_etag_is_an_error) {
  ScriptedServer server({response(200, "OK", "<CopyObjectResult></CopyObjectResult>")});
  auto client = client_for(server.endpoint());
  CopyRequest request;
  request.source_bucket = "legacy";
  request.source_key = "image/a.png";
  request.bucket = "production";
  request.key = "avatar/a.png";
  auto result = run<CopyResult>([&](auto done) { client->copy_object(std::move(request), done); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::kPermanent) << result.error().message;
  EXPECT_NE(result.error().message.find("COPY s3://legacy/image/a.png to s3://production/"),
            std::string::npos)
      << result.error().message;
}

TEST_F(S3ClientRetryTest, delete_objects_posts_a_signed_document_with_content_md5) {
  ScriptedServer server({response(200, "OK",
                                  "<DeleteResult><Deleted><Key>a&amp;b</Key></Deleted>"
                                  "<Error><Key>c</Key><Code>AccessDenied</Code>"
                                  "<Message>no</Message></Error></DeleteResult>")});
  auto client = client_for(server.endpoint());
  auto result = run<DeleteResult>([&](auto done) {
    client->delete_objects("b", {DeleteTarget{"a&b", ""}, DeleteTarget{"c", ""}}, done);
  });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->deleted, (std::vector<std::string>{"a&b"}));
  ASSERT_EQ(result->errors.size(), 1u);
  EXPECT_EQ(result->errors[0].code, "AccessDenied");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& sent = requests[0];
  EXPECT_TRUE(sent.starts_with("POST /b?delete= HTTP/1.1\r\n")) << sent;
  auto body = sent.substr(sent.find("\r\n\r\n") + 4);
  EXPECT_NE(sent.find("content-md5: " + base64_encode(md5(body))), std::string::npos) << sent;
  EXPECT_EQ(sent.find("Expect:"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("x-www-form-urlencoded"), std::string::npos) << sent;
}

}  // namespace
}  // namespace rehome::s3
