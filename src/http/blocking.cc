#include "http/blocking.h"

#include "http/transfer.h"

namespace rehome::http {

Response perform(Request request) {
  // Its own reference to curl's global state (counted, thread-safe since curl 7.84): a refresh
  // thread may still be here while the event loop, which holds the other, is torn down.
  struct GlobalInit {
    GlobalInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    ~GlobalInit() { curl_global_cleanup(); }
  } global;
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
