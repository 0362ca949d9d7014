#pragma once
// Built-in tools. Each has an OpenAI-style JSON Schema (rendered into the system prompt) and
// runs inside the session's sandbox or through its file API: none touches the host outside
// the workspace. Results are text for the model, capped (see output_cap.h).
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/cancel.h"
#include "agent/config.h"
#include "dsml/json_text.h"
#include "sandbox/sandbox.h"

namespace whalebox::agent {

struct ToolResult {
  std::string text;
  bool error = false;
};

// What a tool call may use. Background jobs (bash) are numbered per session.
struct ToolContext {
  sandbox::Sandbox& box;
  const Limits& limits;
  Cancel& cancel;
  int next_job = 1;
};

struct Tool {
  std::string name;
  std::string description;
  dsml::Json parameters;  // JSON Schema of the arguments object
  bool read_only = false; // safe without approval; the only kind allowed in read-only mode
  std::function<boost::asio::awaitable<ToolResult>(const dsml::Json& args, ToolContext& ctx)> run;
};

class ToolRegistry {
 public:
  void add(Tool tool);
  const Tool* find(const std::string& name) const;
  const std::vector<Tool>& all() const { return tools_; }
  // [{"type":"function","function":{"name","description","parameters"}}, …] in declaration order.
  dsml::Json openai_tools() const;

 private:
  std::vector<Tool> tools_;
};

// bash, bash_status, bash_stop, read_file, write_file, edit_file, list_dir, search.
ToolRegistry builtin_tools();

// The four tools whale-tiny was trained with (read_file, write_file, list_dir, run_shell), under
// their training names and schemas, run by the matching built-ins.
ToolRegistry whale_tiny_tools();
// "builtin" or "whale-tiny"; std::invalid_argument otherwise.
ToolRegistry tools_named(const std::string& set);
// The system prompt a tool set was trained with ("" for the built-ins: the session writes its own).
std::string tool_set_system_prompt(const std::string& set);

// Registration helpers, one per tool file.
void add_bash_tools(ToolRegistry& r);
void add_file_tools(ToolRegistry& r);
void add_search_tool(ToolRegistry& r);

}  // namespace whalebox::agent
