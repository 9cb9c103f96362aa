// Small text helpers shared by the protocol code (HTTP header names, SigV4, AWS settings files,
// size suffixes): ASCII only, never the locale's idea of a letter.
#pragma once

#include <string>
#include <string_view>

namespace rehome {

/// `text` with A-Z lowered; every other byte as it was.
std::string ascii_lower(std::string_view text);

}  // namespace rehome
