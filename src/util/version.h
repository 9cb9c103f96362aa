// What this build of rehome is: its version and the commit it was built from (generated at
// build time: cmake/version.cmake).
#pragma once

namespace rehome {

/// "0.1.0".
const char* version() noexcept;
/// The git commit, 12 hex digits ("-dirty" when built with uncommitted changes), or "unknown".
const char* git_commit() noexcept;
/// prometheus-cpp's version as Debian packaged it (it has no version macro of its own).
const char* prometheus_cpp_version() noexcept;

}  // namespace rehome
