// A scripted HTTP server on loopback for fault tests: real S3 servers cannot be made to throttle,
// fail or cut a connection on cue; this one answers each connection with the next canned
// response and closes it. Needs no external service.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rehome::testing {

/// A complete HTTP/1.1 response with Content-Length and Connection: close. `extra_headers`
/// are whole lines, each ending in "\r\n".
std::string response(int status, const std::string& reason, const std::string& body,
                     const std::string& extra_headers = {});

/// Serves one canned response per connection, in order (the last one repeats), on its own
/// thread, and records each request as received (head and body). An empty script entry closes
/// the connection without answering.
class ScriptedServer {
 public:
  /// Listens on 127.0.0.1 at a free port; throws std::runtime_error when it cannot.
  explicit ScriptedServer(std::vector<std::string> script);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  /// "http://127.0.0.1:PORT".
  std::string endpoint() const;
  /// Every request received so far, in order.
  std::vector<std::string> requests() const;

 private:
  void serve();
  void record(std::string request);

  std::vector<std::string> script_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;  // last: starts after everything it uses exists
};

}  // namespace rehome::testing
