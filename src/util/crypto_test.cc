#include "util/crypto.h"

#include <gtest/gtest.h>

#include <string>

namespace rehome {
namespace {

TEST(Sha256, hashes_the_empty_string_to_the_published_digest) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, hashes_abc_to_the_fips_180_digest) {
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, returns_32_raw_bytes) { EXPECT_EQ(sha256("x").size(), 32u); }

TEST(HmacSha256, matches_rfc_4231_case_1) {
  EXPECT_EQ(to_hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(HmacSha256, matches_rfc_4231_case_2_with_a_short_key) {
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256, matches_rfc_4231_case_6_with_a_key_longer_than_the_block) {
  EXPECT_EQ(to_hex(hmac_sha256(std::string(131, '\xaa'),
                               "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256, accepts_an_empty_key_and_empty_data) {
  // Reference value from `openssl dgst -sha256 -hmac ''` on empty input.
  EXPECT_EQ(to_hex(hmac_sha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Md5, hashes_the_empty_string_to_the_rfc_1321_digest) {
  EXPECT_EQ(to_hex(md5("")), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(Md5, hashes_abc_to_the_rfc_1321_digest) {
  EXPECT_EQ(to_hex(md5("abc")), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(Md5Stream, gives_the_same_digest_as_one_shot_md5_across_chunks) {
  Md5Stream stream;
  stream.update("The quick brown ");
  stream.update("");
  stream.update("fox jumps over the lazy dog");
  EXPECT_EQ(to_hex(stream.finish()), "9e107d9d372bb6826bd81d3542a419d6");
}

TEST(Md5Stream, starts_afresh_after_finish) {
  Md5Stream stream;
  stream.update("something else");
  (void)stream.finish();
  stream.update("abc");
  EXPECT_EQ(stream.finish(), md5("abc"));
}

TEST(Md5Stream, reset_discards_what_was_fed) {
  Md5Stream stream;
  stream.update("discarded");
  stream.reset();
  EXPECT_EQ(stream.finish(), md5(""));
}

TEST(Hex, encodes_every_byte_value_in_lower_case) {
  EXPECT_EQ(to_hex(std::string("\x00\x0f\xa0\xff", 4)), "000fa0ff");
}

TEST(Hex, decodes_lower_and_upper_case) {
  EXPECT_EQ(from_hex("00ffA0aB"), std::string("\x00\xff\xa0\xab", 4));
}

TEST(Hex, round_trips_raw_bytes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(from_hex(to_hex(all)), all);
}

TEST(Hex, rejects_odd_length_and_non_hex_digits_with_an_empty_result) {
  EXPECT_EQ(from_hex("abc"), "");
  EXPECT_EQ(from_hex("zz"), "");
  EXPECT_EQ(from_hex("0g"), "");
}

TEST(Base64, encodes_zero_bytes_as_empty) { EXPECT_EQ(base64_encode(""), ""); }

TEST(Base64, pads_one_byte_with_two_equals_signs) { EXPECT_EQ(base64_encode("f"), "Zg=="); }

TEST(Base64, pads_two_bytes_with_one_equals_sign) { EXPECT_EQ(base64_encode("fo"), "Zm8="); }

TEST(Base64, encodes_three_bytes_without_padding) { EXPECT_EQ(base64_encode("foo"), "Zm9v"); }

TEST(Base64, encodes_an_md5_digest_as_content_md5_expects) {
  EXPECT_EQ(base64_encode(md5("")), "1B2M2Y8AsgTpgAmY7PhCfg==");
}

TEST(Base64, encodes_inputs_larger_than_one_internal_chunk_seamlessly) {
  constexpr std::size_t kRepeats = 1024 * 1024 + 5;  // just over the 3 MiB chunk
  std::string input;
  std::string expected;
  input.reserve(kRepeats * 3);
  expected.reserve(kRepeats * 4);
  for (std::size_t i = 0; i < kRepeats; ++i) {
    input += "abc";
    expected += "YWJj";
  }
  input += "a";
  expected += "YQ==";
  EXPECT_EQ(base64_encode(input), expected);
}

}  // namespace
}  // namespace rehome
