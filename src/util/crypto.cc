// OpenSSL 3 one-shot EVP calls behind byte-string functions. OpenSSL failing here means an
// allocation failure or a provider that refuses the algorithm (MD5 under FIPS): nothing a caller
// can recover from, so it is an exception rather than a Result.
#include "util/crypto.h"
#include "util/uri.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>

namespace rehome {

namespace {

const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

std::string digest(const EVP_MD* algorithm, std::string_view data, const char* name) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out, &length, algorithm, nullptr) != 1) {
    throw std::runtime_error(std::string("OpenSSL ") + name + " digest failed");
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

EVP_MD_CTX* md5_context(void* context) { return static_cast<EVP_MD_CTX*>(context); }

void md5_init(EVP_MD_CTX* context) {
  if (EVP_DigestInit_ex(context, EVP_md5(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL MD5 initialisation failed");
  }
}

}  // namespace

std::string sha256(std::string_view data) { return digest(EVP_sha256(), data, "SHA-256"); }

std::string md5(std::string_view data) { return digest(EVP_md5(), data, "MD5"); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  // HMAC() treats a null key as "reuse the previous key"; give it a real pointer when empty.
  static constexpr unsigned char kNoKey = 0;
  const unsigned char* key_bytes = key.empty() ? &kNoKey : bytes_of(key);
  if (key.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::invalid_argument("HMAC key longer than 2 GiB");
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key_bytes, static_cast<int>(key.size()), bytes_of(data), data.size(), out,
           &length) == nullptr) {
    throw std::runtime_error("OpenSSL HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0F]);
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return {};
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_digit_value(hex[i]);
    int lo = hex_digit_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length; feed it whole 3-byte groups so chunks join cleanly.
  constexpr std::size_t kChunk = 3 * 1024 * 1024;
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  while (!bytes.empty()) {
    std::size_t take = std::min(bytes.size(), kChunk);
    std::size_t start = out.size();
    out.resize(start + (take + 2) / 3 * 4 + 1);  // +1: EVP_EncodeBlock writes a NUL.
    int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + start),
                                  bytes_of(bytes), static_cast<int>(take));
    out.resize(start + static_cast<std::size_t>(written));
    bytes.remove_prefix(take);
  }
  return out;
}

Md5Stream::Md5Stream() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr) throw std::runtime_error("OpenSSL could not allocate an MD5 context");
  try {
    md5_init(md5_context(context_));
  } catch (...) {
    EVP_MD_CTX_free(md5_context(context_));
    throw;
  }
}

Md5Stream::~Md5Stream() { EVP_MD_CTX_free(md5_context(context_)); }

void Md5Stream::update(std::string_view chunk) {
  if (EVP_DigestUpdate(md5_context(context_), chunk.data(), chunk.size()) != 1) {
    throw std::runtime_error("OpenSSL MD5 update failed");
  }
}

std::string Md5Stream::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(md5_context(context_), out, &length) != 1) {
    throw std::runtime_error("OpenSSL MD5 finish failed");
  }
  reset();
  return std::string(reinterpret_cast<const char*>(out), length);
}

void Md5Stream::reset() { md5_init(md5_context(context_)); }

}  // namespace rehome
