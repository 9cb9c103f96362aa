// `rehome --version`: the version, the commit it was built from, and the libraries it was built
// against (and, for the shared ones, those it runs with, which an upgraded system may change).
// Its first line is "rehome VERSION", as help2man reads it for the man page.
#pragma once

#include <string>

namespace rehome::cli {

std::string version_text();

}  // namespace rehome::cli
