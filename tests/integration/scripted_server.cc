#include "scripted_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace rehome::testing {

namespace {

// How long the server waits for the rest of a request before answering what it has.
constexpr int kReadTimeoutMs = 2000;

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Reads one request: the head, then Content-Length bytes of body.
std::string read_request(int connection) {
  std::string data;
  char buffer[65536];
  std::size_t expected = std::string::npos;
  while (expected == std::string::npos || data.size() < expected) {
    pollfd fd{connection, POLLIN, 0};
    if (::poll(&fd, 1, kReadTimeoutMs) <= 0) break;
    ssize_t n = ::read(connection, buffer, sizeof buffer);
    if (n <= 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
    auto end = data.find("\r\n\r\n");
    if (expected == std::string::npos && end != std::string::npos) {
      std::string head = lower(data.substr(0, end));
      std::size_t body = 0;
      auto at = head.find("\r\ncontent-length:");
      if (at != std::string::npos) body = std::stoul(head.substr(at + 17));
      expected = end + 4 + body;
    }
  }
  return data;
}

}  // namespace

std::string response(int status, const std::string& reason, const std::string& body,
                     const std::string& extra_headers) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         extra_headers + "\r\n" + body;
}

ScriptedServer::ScriptedServer(std::vector<std::string> script) : script_(std::move(script)) {
  if (script_.empty()) throw std::invalid_argument("ScriptedServer: empty script");
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener_, 128) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (listener_ >= 0) ::close(listener_);
    throw std::runtime_error("ScriptedServer: cannot listen on loopback");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

std::string ScriptedServer::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::vector<std::string> ScriptedServer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void ScriptedServer::serve() {
  std::size_t next = 0;
  while (!stop_) {
    pollfd fd{listener_, POLLIN, 0};
    if (::poll(&fd, 1, 20) <= 0) continue;
    int connection = ::accept(listener_, nullptr, nullptr);
    if (connection < 0) continue;
    record(read_request(connection));
    const std::string& answer = script_[std::min(next++, script_.size() - 1)];
    for (std::size_t sent = 0; sent < answer.size();) {
      ssize_t n = ::write(connection, answer.data() + sent, answer.size() - sent);
      if (n <= 0) break;  // the client went away: nothing more to tell it
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(connection, SHUT_RDWR);
    ::close(connection);
  }
}

void ScriptedServer::record(std::string request) {
  std::lock_guard<std::mutex> lock(mutex_);
  requests_.push_back(std::move(request));
}

}  // namespace rehome::testing
