// What a Client tells whoever watches its requests (the metrics, metrics/metrics.h): each
// attempt sent, answered, retried or throttled, by operation. Called on the loop's thread; an
// observer must be quick (it runs once or twice per request) and must outlive the client.
#pragma once

#include <chrono>
#include <string_view>

namespace rehome::s3 {

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  /// An attempt left for the server (`operation` is S3's name: "CopyObject", "HeadObject"...).
  virtual void sent(std::string_view operation) = 0;
  /// Its answer: the HTTP status, or 0 when none came (connection refused or reset, timeout).
  virtual void answered(std::string_view operation, int status,
                        std::chrono::duration<double> took) = 0;
  /// The answer was a throttle (503 SlowDown, 429...): counted as well as answered.
  virtual void throttled(std::string_view operation) = 0;
  /// The operation will be sent again after a backoff (or once its credentials are refreshed).
  virtual void retried(std::string_view operation) = 0;
  /// An attempt sent and never answered: the loop was stopped with it in flight (a fatal error
  /// ended the command). Not a request with an answer; only no longer in flight.
  virtual void abandoned(std::string_view operation) = 0;
};

}  // namespace rehome::s3
