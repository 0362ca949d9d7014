#pragma once
// A scriptable OpenAI-compatible server for tests: listens on 127.0.0.1 (port 0), answers
// /v1/chat/completions and /v1/completions with server-sent events built by a handler, records
// every request body, and can drop a connection mid-stream or answer with an error status.
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace whalebox::agent::test {

using nlohmann::json;

struct MockReply {
  int status = 200;
  std::vector<std::string> events;  // SSE data payloads; "[DONE]" is appended unless dropped
  std::string body;                 // plain body for non-200 answers
  int drop_after = -1;              // close the connection after this many events
  std::chrono::milliseconds event_gap{0};
};

class MockServer {
 public:
  using Handler = std::function<MockReply(const std::string& path, const json& request)>;
  explicit MockServer(Handler handler);
  ~MockServer();

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<json> requests() const;

 private:
  void serve(int fd);
  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<json> requests_;
};

// One assistant turn of a chat completion, cut into SSE events of `piece` bytes per delta.
// calls: [{"name":..., "arguments": "<json text>"}].
std::vector<std::string> chat_events(const std::string& reasoning, const std::string& content,
                                     const std::vector<json>& calls = {}, size_t piece = 7);
// A raw completion text, cut into /v1/completions SSE events.
std::vector<std::string> completion_events(const std::string& text, size_t piece = 7);

// The text of the last message with this role in an OpenAI request (tool results: content).
std::string last_content(const json& request, const std::string& role);

}  // namespace whalebox::agent::test
