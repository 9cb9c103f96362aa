// curl's callbacks are noexcept C functions: a failure inside one (a throwing body source, a
// sink that refuses) is stored in the Transfer and curl is told to abort; finish_transfer()
// then reports it as the transport error, so the loop never sees an exception from curl.
#include "http/transfer.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>

#include "util/text.h"

namespace rehome::http {

namespace {

bool has_header(const Headers& headers, std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(), [&](const Header& h) {
    return h.first.size() == lower_name.size() &&
           std::equal(h.first.begin(), h.first.end(), lower_name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// Only a 2xx body is the caller's data; an error document stays in Response::body.
bool sink_takes_body(const Transfer& t) {
  if (!t.request.body_sink) return false;
  long status = 0;
  curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &status);
  return status >= 200 && status < 300;
}

// A body kept in memory is given its announced size at once: grown by doubling, an 8 MiB part
// would leave up to twice that allocated while it is held.
void reserve_for_body(Transfer& t, const Header& header) {
  // Bodies kept in memory are parts (8 MiB), small objects and XML pages: a larger announced
  // length is not taken at its word.
  constexpr std::size_t kMaxReserve = 64ULL << 20;
  if (header.first != "content-length" || t.request.body_sink || t.request.method == "HEAD") {
    return;
  }
  std::size_t length = 0;
  const auto& text = header.second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (ec == std::errc{} && end == text.data() + text.size() && length <= kMaxReserve) {
    t.response.body.reserve(length);
  }
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t total = size * count;
  try {
    std::string_view line(data, total);
    if (line.starts_with("HTTP/")) {
      t->response.headers.clear();  // a new response (after 100 Continue or a redirect)
      return total;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return total;  // the blank line ending the headers
    t->response.headers.emplace_back(ascii_lower(trim(line.substr(0, colon))),
                                     std::string(trim(line.substr(colon + 1))));
    reserve_for_body(*t, t->response.headers.back());
    return total;
  } catch (const std::exception& e) {
    t->callback_error = std::string("reading response headers: ") + e.what();
  } catch (...) {
    t->callback_error = "reading response headers: unknown exception";
  }
  return 0;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t total = size * count;
  try {
    if (sink_takes_body(*t)) {
      if (t->request.body_sink(std::string_view(data, total))) return total;
      t->callback_error = "the body sink refused the response body";
      return 0;
    }
    t->response.body.append(data, total);
    return total;
  } catch (const std::exception& e) {
    t->callback_error = std::string("receiving the response body: ") + e.what();
  } catch (...) {
    t->callback_error = "receiving the response body: unknown exception";
  }
  return 0;
}

std::size_t on_read(char* out, std::size_t size, std::size_t count, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t room = size * count;
  try {
    if (t->request.body_source) return t->request.body_source(out, room);
    const std::string_view body = t->request.body_bytes();
    std::size_t n = std::min(room, body.size() - t->upload_offset);
    std::copy_n(body.data() + t->upload_offset, n, out);
    t->upload_offset += n;
    return n;
  } catch (const std::exception& e) {
    t->callback_error = std::string("sending the request body: ") + e.what();
  } catch (...) {
    t->callback_error = "sending the request body: unknown exception";
  }
  return CURL_READFUNC_ABORT;
}

// curl rewinds the body when it re-sends a request on a fresh connection (the reused one had
// died). An in-memory body can go back to any point; a streamed one cannot.
int on_seek(void* user, curl_off_t offset, int origin) noexcept {
  auto* t = static_cast<Transfer*>(user);
  if (t->request.body_source || origin != SEEK_SET || offset < 0 ||
      static_cast<std::uint64_t>(offset) > t->request.body_bytes().size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->upload_offset = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

curl_off_t upload_length(const Request& r) {
  return r.body_source ? static_cast<curl_off_t>(r.body_length)
                       : static_cast<curl_off_t>(r.body_bytes().size());
}

void configure_method(CURL* easy, Transfer& t) {
  const Request& r = t.request;
  const bool has_body = r.body_source || !r.body_bytes().empty();
  if (r.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else if (r.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);  // CUSTOMREQUEST HEAD would wait for a body
  } else if (r.method == "POST" && !r.body_source) {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    // The Transfer owns (or shares) the bytes for as long as curl reads them.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body_bytes().data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(r.body_bytes().size()));
  } else if (r.method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, upload_length(r));
  } else if (r.method == "PUT" || has_body) {
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, upload_length(r));
    if (r.method != "PUT") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());  // DELETE and friends
  }
}

HeaderList build_header_list(const Request& r) {
  curl_slist* list = nullptr;
  std::string line;  // one buffer for every line: curl copies each
  auto add = [&list](const std::string& text) {
    curl_slist* grown = curl_slist_append(list, text.c_str());
    if (grown == nullptr) {
      curl_slist_free_all(list);
      throw std::bad_alloc();
    }
    list = grown;
  };
  for (const auto& [name, value] : r.headers) {
    line.assign(name);
    // "Name;" is curl's spelling of a header with an empty value ("Name:" would remove it).
    if (value.empty()) {
      line += ';';
    } else {
      line += ": ";
      line += value;
    }
    add(line);
  }
  // S3 answers 100-continue promptly, but waiting for it costs a round trip per PUT.
  if (!has_header(r.headers, "expect")) add("Expect:");
  // curl would label a POST body as a web form; S3 signs what it is sent, so send no label.
  if (r.method == "POST" && !has_header(r.headers, "content-type")) add("Content-Type:");
  if (!has_header(r.headers, "accept")) add("Accept:");
  return HeaderList(list);
}

}  // namespace

void configure_transfer(Transfer& t, const LoopOptions& options) {
  CURL* easy = t.easy.get();
  const Request& r = t.request;
  curl_easy_setopt(easy, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);  // keys may hold "../" and "./"
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, r.low_speed_bytes);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, static_cast<long>(r.low_speed_time.count()));
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error_buffer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(easy, CURLOPT_READDATA, &t);
  curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, on_seek);
  curl_easy_setopt(easy, CURLOPT_SEEKDATA, &t);
  if (options.verbose) curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
  const std::string& ca_bundle = r.ca_bundle.empty() ? options.ca_bundle : r.ca_bundle;
  if (!ca_bundle.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, ca_bundle.c_str());
  if (!r.verify_tls) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (r.no_proxy) curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  configure_method(easy, t);
  t.header_list = build_header_list(r);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.header_list.get());
}

void finish_transfer(Transfer& t, CURLcode code) {
  Response& r = t.response;
  CURL* easy = t.easy.get();
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
  curl_off_t total_us = 0;
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
  r.elapsed = std::chrono::microseconds(total_us);
  r.curl_code = static_cast<int>(code);
  if (code == CURLE_OK) return;
  if (!t.callback_error.empty()) {
    r.transport_error = t.callback_error;
  } else if (t.error_buffer[0] != '\0') {
    r.transport_error = t.error_buffer;
  } else {
    r.transport_error = curl_easy_strerror(code);
  }
}

}  // namespace rehome::http
