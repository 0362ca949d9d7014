#pragma once
// One agent session: the conversation (OpenAI messages, reasoning kept across turns since tools
// are always declared), the tool registry, one model backend and one sandbox that lives as long
// as the session. run_task() is the event loop of one task: model output streams in, finished
// calls are checked and dispatched — the calls of one turn concurrently — and their results go
// back in call order as the next turn, until the model answers or a limit is reached.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "agent/backend.h"
#include "agent/cancel.h"
#include "agent/config.h"
#include "agent/tools.h"
#include "dsml/validator.h"
#include "sandbox/sandbox.h"

namespace whalebox::agent {

// Everything that happens, as JSON objects with a "type": turn, reasoning, content (deltas),
// retry, assistant, tool_call, tool_result, final. run --json prints them; batch records them.
using EventSink = std::function<void(const json& event)>;

// Asked before a call of a tool that is not read-only runs (ask mode); false refuses it.
using Approver = std::function<boost::asio::awaitable<bool>(const ToolCall& call, const json& args)>;

struct TaskResult {
  std::string status;  // done, max_turns, max_tokens, wall_budget, cancelled, error
  std::string answer;  // the final content
  std::string error;
  int turns = 0;
  int tool_calls = 0;
  Usage usage;
  double wall_ms = 0;
  json to_json() const;
};

class Session {
 public:
  Session(Backend& backend, sandbox::Sandbox& box, ToolRegistry tools, const AgentConfig& cfg, EventSink sink);

  // Runs one user request to its end. Never throws for model, tool or limit failures: they end
  // up in the result.
  boost::asio::awaitable<TaskResult> run_task(std::string prompt);

  // Ctrl-C: stops the generation or tool calls in flight; run_task returns "cancelled".
  void cancel() { cancel_.fire(); }
  // Forgets the conversation (the sandbox and its files stay).
  void reset();

  void set_approver(Approver a) { approver_ = std::move(a); }
  const json& messages() const { return messages_; }
  const ToolRegistry& tools() const { return tools_; }
  std::string system_prompt() const;

 private:
  struct Outcome;
  boost::asio::awaitable<Completion> generate(int turn);
  boost::asio::awaitable<std::vector<ToolResult>> run_calls(const std::vector<ToolCall>& calls);
  boost::asio::awaitable<ToolResult> run_one(const ToolCall& call);

  Backend& backend_;
  sandbox::Sandbox& box_;
  ToolRegistry tools_;
  json tool_list_;
  dsml::ToolSet toolset_;
  const AgentConfig& cfg_;
  EventSink sink_;
  Approver approver_;
  Cancel cancel_;
  ToolContext tool_ctx_;
  json messages_ = json::array();
  bool over_budget_ = false;
};

}  // namespace whalebox::agent
