#include "s3/errors.h"

#include <gtest/gtest.h>

#include <string>

namespace rehome::s3 {
namespace {

const std::string kWhat = "GET s3://legacy-s3/image/a.png at http://127.0.0.1:7480";

std::string error_xml(const std::string& code, const std::string& message = "",
                      const std::string& extra = "") {
  return R"(<?xml version="1.0" encoding="UTF-8"?><Error><Code>)" + code + "</Code><Message>" +
         message + "</Message>" + extra + "<RequestId>tx0001</RequestId></Error>";
}

http::Response http_failure(long status, const std::string& body = "") {
  http::Response response;
  response.status = status;
  response.body = body;
  return response;
}

http::Response transport_failure(int curl_code, const std::string& text) {
  http::Response response;
  response.curl_code = curl_code;
  response.transport_error = text;
  return response;
}

TEST(ParseErrorBody, ReadsCodeMessageAndRequestId) {
  S3ErrorBody body;
  ASSERT_TRUE(parse_error_body(error_xml("NoSuchKey", "The specified key does not exist."), body));
  EXPECT_EQ(body.code, "NoSuchKey");
  EXPECT_EQ(body.message, "The specified key does not exist.");
  EXPECT_EQ(body.request_id, "tx0001");
}

TEST(ParseErrorBody, RefusesOtherDocumentsAndGarbage) {
  S3ErrorBody body;
  EXPECT_FALSE(parse_error_body("<CopyObjectResult><ETag>e</ETag></CopyObjectResult>", body));
  EXPECT_FALSE(parse_error_body("<html><body>502 Bad Gateway</body></html", body));
  EXPECT_FALSE(parse_error_body("", body));
  EXPECT_FALSE(parse_error_body("Service Unavailable", body));
}

TEST(Classify, MapsStatusCurlCodeAndS3CodeToKind) {
  struct Case {
    long status;
    int curl;
    const char* code;
    ErrorKind kind;
  };
  const Case cases[] = {
      {503, 0, "SlowDown", ErrorKind::kThrottled},
      {503, 0, "", ErrorKind::kThrottled},
      {503, 0, "ServiceUnavailable", ErrorKind::kThrottled},
      {429, 0, "", ErrorKind::kThrottled},
      {500, 0, "InternalError", ErrorKind::kTransient},
      {409, 0, "ConditionalRequestConflict", ErrorKind::kTransient},
      {500, 0, "", ErrorKind::kTransient},
      {502, 0, "", ErrorKind::kTransient},
      {504, 0, "", ErrorKind::kTransient},
      {400, 0, "RequestTimeout", ErrorKind::kTransient},
      {0, 7, "", ErrorKind::kTransient},     // CURLE_COULDNT_CONNECT
      {0, 28, "", ErrorKind::kTransient},    // CURLE_OPERATION_TIMEDOUT
      {0, 56, "", ErrorKind::kTransient},    // CURLE_RECV_ERROR
      {0, 55, "", ErrorKind::kTransient},    // CURLE_SEND_ERROR
      {0, 52, "", ErrorKind::kTransient},    // CURLE_GOT_NOTHING
      {200, 18, "", ErrorKind::kTransient},  // CURLE_PARTIAL_FILE after the status line
      {0, 60, "", ErrorKind::kPermanent},    // CURLE_PEER_FAILED_VERIFICATION
      {0, 3, "", ErrorKind::kPermanent},     // CURLE_URL_MALFORMAT
      {0, 42, "", ErrorKind::kPermanent},    // CURLE_ABORTED_BY_CALLBACK
      {400, 0, "RequestTimeTooSkewed", ErrorKind::kPermanent},
      {403, 0, "RequestTimeTooSkewed", ErrorKind::kPermanent},
      {403, 0, "SignatureDoesNotMatch", ErrorKind::kAccessDenied},
      {403, 0, "InvalidAccessKeyId", ErrorKind::kAccessDenied},
      {403, 0, "AccessDenied", ErrorKind::kAccessDenied},
      {400, 0, "ExpiredToken", ErrorKind::kAccessDenied},
      {403, 0, "", ErrorKind::kAccessDenied},  // HEAD answers have no body.
      {404, 0, "NoSuchKey", ErrorKind::kNotFound},
      {404, 0, "NoSuchBucket", ErrorKind::kNotFound},
      {404, 0, "", ErrorKind::kNotFound},
      {412, 0, "", ErrorKind::kPreconditionFailed},
      {412, 0, "PreconditionFailed", ErrorKind::kPreconditionFailed},
      {400, 0, "InvalidArgument", ErrorKind::kPermanent},
      {400, 0, "", ErrorKind::kPermanent},
      {409, 0, "BucketNotEmpty", ErrorKind::kPermanent},
      {301, 0, "PermanentRedirect", ErrorKind::kPermanent},
      {200, 0, "InternalError", ErrorKind::kTransient},
      {200, 0, "SlowDown", ErrorKind::kThrottled},
      {200, 0, "InvalidRequest", ErrorKind::kPermanent},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classify(c.status, c.curl, c.code), c.kind)
        << c.status << " curl " << c.curl << " " << c.code;
  }
}

TEST(MakeError, SaysWhatHappenedToWhatAndWhatToDo) {
  struct Case {
    long status;
    std::string code;
    std::string expected;  // After "<what>: "
  };
  const Case cases[] = {
      {403, "SignatureDoesNotMatch",
       "403 SignatureDoesNotMatch (access denied; the secret key for access key id TESTKEY is "
       "wrong: check AWS_SECRET_ACCESS_KEY or the profile)"},
      {403, "InvalidAccessKeyId",
       "403 InvalidAccessKeyId (access denied; the server does not know access key id TESTKEY: "
       "check AWS_ACCESS_KEY_ID or the profile)"},
      {403, "AccessDenied",
       "403 AccessDenied (access denied; check the IAM policy (docs/PRIVILEGES.md) of access key "
       "id TESTKEY, and its secret key)"},
      {404, "NoSuchBucket",
       "404 NoSuchBucket (not found; bucket does not exist: check the bucket name and endpoint)"},
      {404, "NoSuchKey", "404 NoSuchKey (not found; the object does not exist)"},
      {400, "RequestTimeTooSkewed",
       "400 RequestTimeTooSkewed (permanent; this machine's clock is skewed from the server's: "
       "synchronise it with NTP)"},
      {503, "SlowDown",
       "503 SlowDown (throttled; the server asked to slow down: lower the request rate or "
       "concurrency)"},
      {500, "InternalError",
       "500 InternalError (transient; a server-side fault: retrying later should work)"},
      {412, "PreconditionFailed",
       "412 PreconditionFailed (precondition failed; the object changed or already exists)"},
      {400, "InvalidArgument",
       "400 InvalidArgument (permanent; the server says \"the message\", request id tx0001)"},
  };
  for (const auto& c : cases) {
    auto error =
        make_error(kWhat, http_failure(c.status, error_xml(c.code, "the message")), "TESTKEY");
    EXPECT_EQ(error.message, kWhat + ": " + c.expected);
    EXPECT_EQ(error.code, c.code);
    EXPECT_EQ(error.http_status, c.status);
    EXPECT_EQ(error.retry_after_ms, std::nullopt);
  }
}

TEST(MakeError, a_long_server_message_is_cut_between_characters_not_inside_one) {
  // 299 ASCII bytes, then "é" (2 bytes) straddling the 300-byte cut.
  const std::string message = std::string(299, 'a') + "\xC3\xA9" + std::string(20, 'b');
  http::Response response;
  response.status = 400;
  response.body = "<Error><Code>InvalidArgument</Code><Message>" + message +
                  "</Message><RequestId>tx1</RequestId></Error>";
  const Error e = make_error("PUT s3://b/k", response, "TESTKEY");
  EXPECT_NE(e.message.find(std::string(299, 'a') + "..."), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("\xC3..."), std::string::npos) << "half a character";
}

TEST(MakeError, NamesTheStatusWhenThereIsNoBody) {
  // HEAD answers carry no body; proxies answer with HTML.
  struct Case {
    long status;
    std::string body;
    std::string expected;
  };
  const Case cases[] = {
      {404, "", "404 Not Found (not found; no such key or bucket)"},
      {403, "",
       "403 Forbidden (access denied; check the credentials of access key id TESTKEY and the IAM "
       "policy (docs/PRIVILEGES.md))"},
      {502, "<html>bad gateway</html>",
       "502 Bad Gateway (transient; a server-side fault: retrying later should work)"},
      {503, "",
       "503 Service Unavailable (throttled; the server asked to slow down: lower the request rate "
       "or concurrency)"},
      {400, "", "400 Bad Request (permanent; the server refused the request)"},
      {418, "", "418 (permanent; the server refused the request)"},
  };
  for (const auto& c : cases) {
    auto error = make_error(kWhat, http_failure(c.status, c.body), "TESTKEY");
    EXPECT_EQ(error.message, kWhat + ": " + c.expected);
    EXPECT_EQ(error.code, "");
  }
}

TEST(MakeError, GivesTheCurlTextAndAdviceForTransportFailures) {
  auto error = make_error(
      kWhat, transport_failure(7, "Failed to connect to 127.0.0.1 port 7480: Connection refused"),
      "TESTKEY");
  EXPECT_EQ(error.message, kWhat +
                               ": Failed to connect to 127.0.0.1 port 7480: Connection refused "
                               "(transient; connection refused: is the endpoint up?)");
  EXPECT_EQ(error.kind, ErrorKind::kTransient);
  EXPECT_EQ(error.code, "CURLE_COULDNT_CONNECT");
  EXPECT_EQ(error.http_status, std::nullopt);
}

TEST(MakeError, FallsBackToCurlsOwnTextWhenTheLoopGaveNone) {
  auto error = make_error(kWhat, transport_failure(28, ""), "TESTKEY");
  EXPECT_EQ(error.message, kWhat +
                               ": Timeout was reached (transient; no answer in time: is the "
                               "endpoint reachable and not overloaded?)");
  EXPECT_EQ(error.code, "CURLE_OPERATION_TIMEDOUT");
}

TEST(MakeError, ReadsRetryAfterSeconds) {
  struct Case {
    std::string value;
    std::optional<long> ms;
  };
  const Case cases[] = {{"5", 5000},
                        {" 2 ", 2000},
                        {"0", 0},
                        {"abc", std::nullopt},
                        {"", std::nullopt},
                        {"-3", std::nullopt},
                        {"Wed, 21 Oct 2015 07:28:00 GMT", std::nullopt},
                        {"99999999999999", 86'400'000}};
  for (const auto& c : cases) {
    auto response = http_failure(503, error_xml("SlowDown"));
    response.headers.emplace_back("retry-after", c.value);
    EXPECT_EQ(make_error(kWhat, response, "TESTKEY").retry_after_ms, c.ms) << c.value;
  }
}

TEST(MakeError, NeverRepeatsSecretsFromHeadersOrTheErrorDocument) {
  const std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  const std::string signature = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";
  const std::string token = "FQoGZXIvYXdzEXAMPLETOKEN";
  // AWS echoes the string to sign and the signature it was given.
  auto response = http_failure(
      403, error_xml("SignatureDoesNotMatch", "The request signature we calculated does not match",
                     "<AWSAccessKeyId>TESTKEY</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 " +
                         secret + "</StringToSign><SignatureProvided>" + signature +
                         "</SignatureProvided><CanonicalRequest>x-amz-security-token:" + token +
                         "</CanonicalRequest>"));
  response.headers.emplace_back("authorization", "AWS4-HMAC-SHA256 Signature=" + signature);
  response.headers.emplace_back("x-amz-security-token", token);
  auto error = make_error(kWhat, response, "TESTKEY");
  EXPECT_EQ(error.message.find(secret), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find(signature), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find(token), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("TESTKEY"), std::string::npos);
}

TEST(MakeError, KeepsServerTextShortAndOnOneLine) {
  auto error = make_error(
      kWhat,
      http_failure(400,
                   error_xml("InvalidArgument", "line one\nline two" + std::string(1000, 'x'))),
      "K");
  EXPECT_EQ(error.message.find('\n'), std::string::npos);
  EXPECT_LT(error.message.size(), 500u);
}

TEST(MakeError, OmitsThePrefixWhenWhatIsEmpty) {
  auto error = make_error("", http_failure(404, error_xml("NoSuchKey")), "K");
  EXPECT_EQ(error.message, "404 NoSuchKey (not found; the object does not exist)");
}

}  // namespace
}  // namespace rehome::s3
