// Hashes and encodings from OpenSSL, wrapped as pure functions over bytes.
#pragma once

#include <string>
#include <string_view>

namespace rehome {

/// Raw 32-byte SHA-256 digest.
std::string sha256(std::string_view data);
/// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);
/// Raw 16-byte MD5 digest (Content-MD5 and S3 ETags; not used for security).
std::string md5(std::string_view data);

/// Lower-case hex of raw bytes.
std::string to_hex(std::string_view bytes);
/// Raw bytes of lower- or upper-case hex; empty when `hex` is not valid hex.
std::string from_hex(std::string_view hex);
/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

/// Incremental MD5, for bodies that stream through in chunks.
class Md5Stream {
 public:
  Md5Stream();
  ~Md5Stream();
  Md5Stream(const Md5Stream&) = delete;
  Md5Stream& operator=(const Md5Stream&) = delete;
  void update(std::string_view chunk);
  /// Raw 16-byte digest; the stream is reset afterwards.
  std::string finish();
  void reset();

 private:
  void* context_;  // EVP_MD_CTX*, opaque here so callers do not include OpenSSL.
};

}  // namespace rehome
