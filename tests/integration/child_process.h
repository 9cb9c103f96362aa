// A child process for the integration suites (the fault proxy, a rehome run to kill), and
// reading a whole file back.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace rehome::testing {

/// A child process started with fork/exec (`env` added to this process's environment, output
/// appended to `log`), killed (SIGKILL) and reaped if still running at scope end.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env,
        const std::string& log);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /// Waits up to `limit`; returns the exit status (128 + signal), or -1 if still running.
  int wait_for(std::chrono::milliseconds limit);
  void signal(int sig);

 private:
  pid_t pid_ = -1;
};

/// The whole file, or "" when it cannot be read.
std::string slurp(const std::string& path);

}  // namespace rehome::testing
