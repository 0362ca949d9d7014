#pragma once
// A model backend: one request (the conversation so far + the declared tools) → a streamed
// completion (reasoning, content, tool calls), its token usage and finish reason.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cancel.h"
#include "dsml/json_text.h"
#include "dsml/parser.h"

namespace whalebox::agent {

// Ordered: tool schemas keep their key order into the rendered prompt.
using json = dsml::Json;

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON object text, as the model wrote it
  std::string error;      // set when the model's call could not be parsed; answered as the result
  std::optional<dsml::ParsedCall> parsed;  // from a DSML-parsing backend: validated as parsed
};

struct Usage {
  long prompt_tokens = 0;         // the whole prompt of the turn
  long cached_prompt_tokens = 0;  // of which were already in the model's cache (not processed again)
  long completion_tokens = 0;
};

struct Completion {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> calls;
  Usage usage;
  std::string finish_reason;  // "stop", "tool_calls", "length", ...
  std::string raw_tool_calls;  // DSML block as sampled (DSML backends), reused when re-rendering
};

// What the session gives a backend. `messages` are OpenAI chat messages (role, content,
// reasoning_content, tool_calls, tool_call_id); `tools` the OpenAI tool list.
struct ModelRequest {
  const json& messages;
  const json& tools;
  long max_tokens = 0;  // 0: the backend's default
  bool thinking = true;
};

// Streaming callbacks; any may be empty.
struct StreamHandler {
  std::function<void(std::string_view)> on_reasoning;
  std::function<void(std::string_view)> on_content;
  std::function<void(const std::string& why)> on_retry;  // a failed attempt is being retried
};

// A failure that retrying will not fix (4xx, bad configuration, retries exhausted).
struct BackendError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Raised when Cancel fires during a request.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual boost::asio::awaitable<Completion> complete(const ModelRequest& req,
                                                      const StreamHandler& on, Cancel& cancel) = 0;
};

}  // namespace whalebox::agent
