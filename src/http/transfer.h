// One request as curl sees it: the easy handle's options and the noexcept callbacks that move
// bytes between curl and the Request/Response. Internal to the http module: the Loop owns
// every Transfer and is the only caller.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>

#include "http/loop.h"

namespace rehome::http {

struct EasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

/// A request in flight and everything curl's callbacks read and write while it runs. Must not
/// move while its easy handle is configured: curl holds pointers into it.
struct Transfer {
  Request request;
  Completion done;
  Response response;
  EasyHandle easy;
  HeaderList header_list;
  std::size_t upload_offset = 0;  ///< Into request.body, for in-memory uploads.
  std::string callback_error;     ///< Set by a callback that failed; reported over curl's text.
  char error_buffer[CURL_ERROR_SIZE] = {};
};

/// Sets every option of `t.easy` for `t.request`: URL, method and body, headers, timeouts,
/// keep-alive, and the callbacks that fill `t.response`. Throws std::bad_alloc.
void configure_transfer(Transfer& t, const LoopOptions& options);

/// Fills in `t.response`'s status, timing and transport error once curl reports `code`.
void finish_transfer(Transfer& t, CURLcode code);

}  // namespace rehome::http
