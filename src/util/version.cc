#include "util/version.h"

#include "rehome_version.h"

namespace rehome {

const char* version() noexcept { return REHOME_VERSION; }
const char* git_commit() noexcept { return REHOME_GIT_COMMIT; }
const char* prometheus_cpp_version() noexcept { return REHOME_PROMETHEUS_CPP_VERSION; }

}  // namespace rehome
