#include "cli/version.h"

#include <curl/curl.h>
#include <expat.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <pg_config.h>

#include <CLI/Version.hpp>
#include <nlohmann/json.hpp>

#include "util/version.h"

namespace rehome::cli {

std::string version_text() {
  const curl_version_info_data* curl = curl_version_info(CURLVERSION_NOW);
  const int pq = PQlibVersion();  // 150018 for 15.18
  const XML_Expat_Version expat = XML_ExpatVersionInfo();
  return fmt::format(
      "rehome {}\n"
      "commit {}\n"
      "built with libcurl {}, {}, libpq {}, expat {}.{}.{}, prometheus-cpp {}, CLI11 {}, fmt "
      "{}.{}.{}, "
      "nlohmann-json {}.{}.{}\n"
      "running with libcurl {} ({}), {}, libpq {}.{}, expat {}.{}.{}\n",
      version(), git_commit(), LIBCURL_VERSION, OPENSSL_VERSION_TEXT, PG_VERSION, XML_MAJOR_VERSION,
      XML_MINOR_VERSION, XML_MICRO_VERSION, prometheus_cpp_version(), CLI11_VERSION,
      FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100, NLOHMANN_JSON_VERSION_MAJOR,
      NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH, curl->version,
      curl->ssl_version ? curl->ssl_version : "no TLS", OpenSSL_version(OPENSSL_VERSION),
      pq / 10000, pq % 10000, expat.major, expat.minor, expat.micro);
}

}  // namespace rehome::cli
