#include "util/failpoint.h"

#include <csignal>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace rehome {

void failpoint(std::string_view name) noexcept {
  // Read once: the environment does not change under a running job.
  static const std::string armed = [] {
    const char* value = std::getenv("REHOME_FAILPOINT");
    return std::string(value ? value : "");
  }();
  if (!armed.empty() && armed == name) ::kill(::getpid(), SIGKILL);
}

}  // namespace rehome
