#include "http/blocking.h"

#include "http/transfer.h"

namespace rehome::http {

Response perform(Request request) {
  Transfer t;
  t.request = std::move(request);
  t.easy.reset(curl_easy_init());
  if (!t.easy) {
    Response failed;
    failed.transport_error = "curl_easy_init failed (out of memory)";
    return failed;
  }
  configure_transfer(t, LoopOptions{});
  const CURLcode code = curl_easy_perform(t.easy.get());
  finish_transfer(t, code);
  return std::move(t.response);
}

}  // namespace rehome::http
