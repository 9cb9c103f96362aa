#include "engine/lister.h"

#include "engine/key_map.h"

namespace rehome::engine {

Lister::Lister(s3::Api& client, std::string bucket, std::string prefix, std::string start_after,
               std::function<void()> on_page, std::string last, int page_size)
    : client_(client),
      bucket_(std::move(bucket)),
      prefix_(std::move(prefix)),
      start_after_(std::move(start_after)),
      last_(std::move(last)),
      page_size_(page_size),
      on_page_(std::move(on_page)) {}

void Lister::prefetch() {
  if (in_flight_ || !more_ || error_ || buffer_.size() >= static_cast<std::size_t>(page_size_) / 2)
    return;
  in_flight_ = true;
  s3::ListRequest request;
  request.bucket = bucket_;
  request.prefix = prefix_;
  request.max_keys = page_size_;
  if (token_.empty()) {
    request.start_after = start_after_;
  } else {
    request.continuation_token = token_;
  }
  client_.list_objects_v2(std::move(request), [this](Result<s3::ListPage> page) {
    in_flight_ = false;
    ++pages_;
    if (!page) {
      error_ = page.error();
      more_ = false;
    } else {
      bool past_last = false;
      for (auto& object : page->objects) {
        // encoding-type=url keys come back decoded; guard against a server that lists keys
        // outside the prefix (it would break the merge's ordering assumptions).
        if (object.key.compare(0, prefix_.size(), prefix_) != 0) continue;
        // Past the range's bound: the rest of this page and every later page are too.
        past_last = !last_.empty() && object.key > last_;
        if (past_last) break;
        start_after_ = object.key;
        if (keys_received_++ == 0) first_received_ = object.key;
        alphabet_.add(std::string_view(object.key).substr(prefix_.size()));
        buffer_.push_back(std::move(object));
      }
      more_ = page->truncated && !past_last;
      // Without a token (some servers omit it) the next page starts after the last key seen.
      token_ = page->next_continuation_token;
    }
    on_page_();
  });
}

void Lister::lower_last(std::string last) {
  last_ = std::move(last);
  while (!buffer_.empty() && buffer_.back().key > last_) buffer_.pop_back();
  // Everything up to the new bound has been received: no page is needed beyond it.
  if (start_after_ >= last_) more_ = false;
}

TwinLookup take_twin(std::string_view legacy_suffix, Lister& production) {
  auto suffix = [&] {
    return KeyMap::suffix_of_listed(production.front().key, production.prefix());
  };
  while (production.ready() && !production.exhausted() && suffix() < legacy_suffix) {
    production.pop();
    production.prefetch();
  }
  TwinLookup out;
  // A failed listing ends "exhausted": that must not read as "production has no twin".
  if (production.exhausted() && production.error()) {
    out.error = production.error();
    return out;
  }
  if (!production.ready()) return out;
  out.ready = true;
  if (!production.exhausted() && suffix() == legacy_suffix) {
    out.twin = production.front();
    production.pop();
    production.prefetch();
  }
  return out;
}

}  // namespace rehome::engine
