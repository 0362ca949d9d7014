#include "agent/session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "agent/call_check.h"

namespace whalebox::agent {

namespace asio = boost::asio;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// processed_prompt_tokens: what the model actually ran through this turn (the rest was cached).
json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"cached_prompt_tokens", u.cached_prompt_tokens},
          {"processed_prompt_tokens", u.prompt_tokens - u.cached_prompt_tokens},
          {"completion_tokens", u.completion_tokens}};
}

}  // namespace

json TaskResult::to_json() const {
  json j = {{"status", status}, {"answer", answer}, {"turns", turns}, {"tool_calls", tool_calls},
            {"usage", usage_json(usage)}, {"wall_ms", wall_ms}};
  if (!error.empty()) j["error"] = error;
  return j;
}

Session::Session(Backend& backend, sandbox::Sandbox& box, ToolRegistry tools, const AgentConfig& cfg, EventSink sink)
    : backend_(backend),
      box_(box),
      tools_(std::move(tools)),
      tool_list_(tools_.openai_tools()),
      toolset_(tool_list_),
      cfg_(cfg),
      sink_(std::move(sink)),
      tool_ctx_{box, cfg.limits, cancel_} {
  reset();
}

std::string Session::system_prompt() const {
  std::string p = tool_set_system_prompt(cfg_.tools);
  if (p.empty())
    p = "You are an agent working in a sandboxed Linux machine. Your workspace is " + box_.spec().workspace_mount +
      ", the working directory of every command; files there persist between tool calls. Use the tools to "
      "inspect, change and run things. Independent tool calls may be made together in one turn; they run "
      "concurrently. When the task is done, reply with the answer and no tool call.";
  if (!cfg_.system_prompt.empty()) p += "\n\n" + cfg_.system_prompt;
  return p;
}

void Session::reset() {
  messages_ = json::array();
  messages_.push_back({{"role", "system"}, {"content", system_prompt()}});
}

awaitable<Completion> Session::generate(int turn) {
  StreamHandler on;
  on.on_reasoning = [this](std::string_view s) { sink_({{"type", "reasoning"}, {"text", s}}); };
  on.on_content = [this](std::string_view s) { sink_({{"type", "content"}, {"text", s}}); };
  on.on_retry = [this](const std::string& why) { sink_({{"type", "retry"}, {"reason", why}}); };
  ModelRequest req{messages_, tool_list_, cfg_.limits.max_tokens_per_turn, cfg_.thinking};
  co_return co_await backend_.complete(req, on, cancel_);
}

awaitable<ToolResult> Session::run_one(const ToolCall& call) {
  auto t0 = Clock::now();
  ToolResult result;
  CheckedCall checked = check_call(call, toolset_);
  const Tool* tool = tools_.find(call.name);
  if (!checked.error.empty()) {
    result = {checked.error, true};
  } else if (cfg_.approve == "read-only" && !tool->read_only) {
    result = {"refused: this session is read-only; `" + call.name + "` may change the workspace", true};
  } else {
    bool approved = true;
    if (cfg_.approve == "ask" && !tool->read_only && approver_) approved = co_await approver_(call, checked.arguments);
    if (!approved) {
      result = {"the user declined to run this call", true};
    } else if (cancel_.fired()) {
      result = {"[cancelled by the user]", true};
    } else {
      try {
        result = co_await tool->run(checked.arguments, tool_ctx_);
      } catch (const std::exception& e) {
        result = {std::string("the tool failed: ") + e.what(), true};
      }
    }
  }
  sink_({{"type", "tool_result"}, {"id", call.id}, {"name", call.name}, {"ok", !result.error},
         {"text", result.text}, {"ms", ms_since(t0)}});
  co_return result;
}

awaitable<std::vector<ToolResult>> Session::run_calls(const std::vector<ToolCall>& calls) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<ToolResult> results(calls.size());
  for (const auto& c : calls)
    sink_({{"type", "tool_call"}, {"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
  if (cfg_.approve == "ask" && approver_) {
    // Approval is a conversation with the user: one call at a time, then run them together.
    for (size_t i = 0; i < calls.size(); ++i) results[i] = co_await run_one(calls[i]);
    co_return results;
  }
  size_t pending = calls.size();
  asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
  for (size_t i = 0; i < calls.size(); ++i) {
    asio::co_spawn(ex, run_one(calls[i]), [&, i](std::exception_ptr e, ToolResult r) {
      results[i] = e ? ToolResult{"internal error while running the tool", true} : std::move(r);
      if (--pending == 0) all_done.cancel();
    });
  }
  if (pending) co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return results;
}

awaitable<TaskResult> Session::run_task(std::string prompt) {
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  TaskResult res;
  cancel_.reset();
  over_budget_ = false;
  messages_.push_back({{"role", "user"}, {"content", prompt}});

  asio::steady_timer budget(ex, std::chrono::milliseconds(static_cast<long>(cfg_.limits.wall_seconds * 1000)));
  budget.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    over_budget_ = true;
    cancel_.fire();
  });

  try {
    for (int turn = 1;; ++turn) {
      if (turn > cfg_.limits.max_turns) {
        res.status = "max_turns";
        res.error = "stopped after " + std::to_string(cfg_.limits.max_turns) + " model turns";
        break;
      }
      sink_({{"type", "turn"}, {"turn", turn}});
      auto turn_t0 = Clock::now();
      Completion c = co_await generate(turn);
      res.turns = turn;
      res.usage.prompt_tokens += c.usage.prompt_tokens;
      res.usage.cached_prompt_tokens += c.usage.cached_prompt_tokens;
      res.usage.completion_tokens += c.usage.completion_tokens;

      json msg = {{"role", "assistant"}, {"content", c.content}};
      if (!c.reasoning.empty()) msg["reasoning_content"] = c.reasoning;
      if (!c.calls.empty()) {
        msg["tool_calls"] = json::array();
        for (const auto& call : c.calls)
          msg["tool_calls"].push_back({{"id", call.id}, {"type", "function"},
                                       {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
      }
      if (!c.raw_tool_calls.empty()) msg["x_dsml_raw"] = c.raw_tool_calls;
      messages_.push_back(msg);
      sink_({{"type", "assistant"}, {"turn", turn}, {"reasoning", c.reasoning}, {"content", c.content},
             {"tool_calls", msg.value("tool_calls", json::array())}, {"finish_reason", c.finish_reason},
             {"usage", usage_json(c.usage)}, {"ms", ms_since(turn_t0)}});

      if (c.calls.empty()) {
        res.status = "done";
        res.answer = c.content;
        break;
      }
      auto results = co_await run_calls(c.calls);
      for (size_t i = 0; i < c.calls.size(); ++i)
        messages_.push_back({{"role", "tool"}, {"tool_call_id", c.calls[i].id}, {"content", results[i].text}});
      res.tool_calls += c.calls.size();
      if (cancel_.fired()) throw Cancelled();
      if (cfg_.limits.max_tokens > 0 && res.usage.completion_tokens >= cfg_.limits.max_tokens) {
        res.status = "max_tokens";
        res.error = "generated " + std::to_string(res.usage.completion_tokens) + " tokens, the limit is " +
                    std::to_string(cfg_.limits.max_tokens);
        break;
      }
    }
  } catch (const Cancelled&) {
    res.status = over_budget_ ? "wall_budget" : "cancelled";
    if (over_budget_) res.error = "the wall-clock budget of " + std::to_string(cfg_.limits.wall_seconds) + " s ran out";
  } catch (const BackendError& e) {
    res.status = "error";
    res.error = e.what();
  } catch (const std::exception& e) {
    res.status = "error";
    res.error = std::string("internal error: ") + e.what();
  }
  budget.cancel();
  res.wall_ms = ms_since(t0);
  json fin = res.to_json();
  fin["type"] = "final";
  sink_(fin);
  co_return res;
}

}  // namespace whalebox::agent
