// The tool set whale-tiny was trained with (model/reference/tools.py): the same four names,
// descriptions and schemas, so the prompt matches its training data. Each runs in the sandbox as
// the built-in tool it corresponds to; successful results are reworded into the shapes of the
// training data (list_dir: bare names; run_shell: the output alone when the exit code is 0).
#include <sstream>
#include <stdexcept>

#include "agent/tools.h"

namespace whalebox::agent {

namespace {

using boost::asio::awaitable;
using dsml::Json;
using RunFn = std::function<awaitable<ToolResult>(const Json&, ToolContext&)>;
using Reword = std::string (*)(const std::string&);

// "a.txt  12\nsub/\n" -> "a.txt\nsub", like os.listdir sorted and joined.
std::string bare_names(const std::string& listing) {
  if (listing == "(empty directory)") return "";
  std::istringstream in(listing);
  std::string line, out;
  while (std::getline(in, line)) {
    if (auto sp = line.rfind("  "); sp != std::string::npos && line.find_first_not_of("0123456789", sp + 2) == std::string::npos)
      line.resize(sp);
    if (!line.empty() && (line.back() == '/' || line.back() == '@')) line.pop_back();
    out += (out.empty() ? "" : "\n") + line;
  }
  return out;
}

std::string without_exit_zero(const std::string& text) {
  const std::string tail = "[exit code 0]";
  return text.ends_with(tail) ? text.substr(0, text.size() - tail.size()) : text;
}

std::string capitalized(const std::string& text) {
  std::string s = text;
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = char(s[0] - 'a' + 'A');
  return s;
}

awaitable<ToolResult> reworded(RunFn inner, Reword reword, Json args, ToolContext& ctx) {
  ToolResult r = co_await inner(args, ctx);
  if (!r.error && reword) r.text = reword(r.text);
  co_return r;
}

}  // namespace

ToolRegistry whale_tiny_tools() {
  const ToolRegistry builtins = builtin_tools();
  ToolRegistry r;
  auto as = [&](const char* builtin, const char* name, const char* description, const char* schema, Reword reword) {
    Tool t = *builtins.find(builtin);
    t.name = name;
    t.description = description;
    t.parameters = Json::parse(schema);
    t.run = [inner = t.run, reword](const Json& args, ToolContext& ctx) { return reworded(inner, reword, args, ctx); };
    r.add(std::move(t));
  };
  as("read_file", "read_file", "Read a text file and return its contents",
     R"({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})", nullptr);
  as("write_file", "write_file", "Write text to a file, replacing it",
     R"({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]})",
     capitalized);
  as("list_dir", "list_dir", "List the entries of a directory",
     R"({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})", bare_names);
  as("bash", "run_shell", "Run a bash command and return its output",
     R"({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]})", without_exit_zero);
  return r;
}

std::string tool_set_system_prompt(const std::string& set) {
  // One of the system prompts of its training conversations (agentdata.py SYSTEMS).
  if (set == "whale-tiny") return "You are a helpful assistant with access to a sandboxed working directory.";
  return "";
}

ToolRegistry tools_named(const std::string& set) {
  if (set == "builtin") return builtin_tools();
  if (set == "whale-tiny") return whale_tiny_tools();
  throw std::invalid_argument("unknown tool set '" + set + "' (builtin or whale-tiny)");
}

}  // namespace whalebox::agent
