// How many files (sockets included) the process may hold open. Each request in flight may hold
// a connection, and the default soft limit (1,024 under most shells and systemd) is below what
// two endpoints' in-flight caps can reach.
#pragma once

#include <cstddef>

namespace rehome::util {

/// Raises the soft limit on open files to the hard limit (allowed without privileges) and
/// returns the soft limit then in force.
std::size_t raise_open_files_limit();

}  // namespace rehome::util
