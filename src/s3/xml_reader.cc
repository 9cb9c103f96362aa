#include "s3/xml_reader.h"

#include <expat.h>

#include <exception>
#include <memory>
#include <new>
#include <random>
#include <string>

namespace rehome::s3 {

namespace {

// S3 documents are four levels deep; anything far deeper is not one of them.
constexpr std::size_t kMaxDepth = 64;
// XML_Parse takes an int length: feed large bodies in slices.
constexpr std::size_t kSlice = 1 << 20;

struct ParserDeleter {
  void operator()(XML_ParserStruct* parser) const noexcept { XML_ParserFree(parser); }
};
using ParserHandle = std::unique_ptr<XML_ParserStruct, ParserDeleter>;

// State shared with expat's C callbacks. They are noexcept: a failure is stored, the parser
// stopped, and the failure raised again once XML_Parse has returned.
struct ReaderState {
  XML_Parser parser = nullptr;
  const XmlEvents* events = nullptr;
  XmlPath path;
  std::string text;
  std::string refusal;  // Why we stopped the parser ourselves, if we did.
  std::exception_ptr exception;

  void stop(std::string why) noexcept {
    if (refusal.empty()) refusal = std::move(why);
    XML_StopParser(parser, XML_FALSE);
  }
};

// S3 puts its elements in the default namespace; a prefixed name ("s3:Key") is read by its
// local part. (Expat's namespace processing gives the same answer, ~15% slower.)
std::string local_name(const XML_Char* name) {
  std::string_view full(name);
  auto colon = full.rfind(':');
  return std::string(colon == std::string_view::npos ? full : full.substr(colon + 1));
}

void XMLCALL on_start(void* user, const XML_Char* name, const XML_Char** /*attributes*/) noexcept {
  auto& state = *static_cast<ReaderState*>(user);
  try {
    if (state.path.size() >= kMaxDepth) {
      state.stop("elements nested too deeply");
      return;
    }
    state.path.push_back(local_name(name));
    state.text.clear();
    if (state.events->on_open) state.events->on_open(state.path);
  } catch (...) {
    state.exception = std::current_exception();
    XML_StopParser(state.parser, XML_FALSE);
  }
}

void XMLCALL on_end(void* user, const XML_Char* /*name*/) noexcept {
  auto& state = *static_cast<ReaderState*>(user);
  try {
    if (state.events->on_close) state.events->on_close(state.path, state.text);
    state.path.pop_back();
    state.text.clear();
  } catch (...) {
    state.exception = std::current_exception();
    XML_StopParser(state.parser, XML_FALSE);
  }
}

void XMLCALL on_text(void* user, const XML_Char* text, int length) noexcept {
  auto& state = *static_cast<ReaderState*>(user);
  try {
    state.text.append(text, static_cast<std::size_t>(length));
  } catch (...) {
    state.exception = std::current_exception();
    XML_StopParser(state.parser, XML_FALSE);
  }
}

void XMLCALL on_doctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*,
                        int) noexcept {
  static_cast<ReaderState*>(user)->stop("a DOCTYPE is not allowed");
}

// Expat salts its hash tables against collision floods, by default with fresh entropy (a
// getrandom syscall) for every parser: one per S3 response. One secret salt per process
// defends as well and costs that syscall once.
unsigned long hash_salt() {
  static const unsigned long salt = [] {
    std::random_device entropy;
    unsigned long value = (static_cast<unsigned long>(entropy()) << 32) ^ entropy();
    return value != 0 ? value : 1UL;  // 0 would mean "pick one per parser" again
  }();
  return salt;
}

std::string_view skip_leading_space(std::string_view xml) {
  // S3 may send whitespace before a CopyObject result to keep the connection alive.
  auto first = xml.find_first_not_of(" \t\r\n");
  return first == std::string_view::npos ? std::string_view{} : xml.substr(first);
}

}  // namespace

std::string read_xml(std::string_view xml, const XmlEvents& events) {
  xml = skip_leading_space(xml);
  if (xml.empty()) return "empty document";

  ParserHandle parser(XML_ParserCreate(nullptr));
  if (!parser) throw std::bad_alloc();
  ReaderState state;
  state.parser = parser.get();
  state.events = &events;
  XML_SetHashSalt(parser.get(), hash_salt());
  XML_SetUserData(parser.get(), &state);
  XML_SetElementHandler(parser.get(), on_start, on_end);
  XML_SetCharacterDataHandler(parser.get(), on_text);
  XML_SetStartDoctypeDeclHandler(parser.get(), on_doctype);

  while (true) {
    auto slice = xml.substr(0, kSlice);
    xml.remove_prefix(slice.size());
    bool last = xml.empty();
    auto status = XML_Parse(parser.get(), slice.data(), static_cast<int>(slice.size()),
                            last ? XML_TRUE : XML_FALSE);
    if (state.exception) std::rethrow_exception(state.exception);
    if (!state.refusal.empty()) return state.refusal;
    if (status != XML_STATUS_OK) {
      return std::string(XML_ErrorString(XML_GetErrorCode(parser.get()))) + " at line " +
             std::to_string(XML_GetCurrentLineNumber(parser.get()));
    }
    if (last) return {};
  }
}

bool path_is(const XmlPath& path, std::initializer_list<std::string_view> expected) {
  if (path.size() != expected.size()) return false;
  auto it = expected.begin();
  for (const auto& name : path) {
    if (name != *it++) return false;
  }
  return true;
}

}  // namespace rehome::s3
