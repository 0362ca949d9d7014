// The official V4 encode_messages, rule for rule (spec §2): merge tool messages into user turns,
// order tool results by call order, drop old reasoning when no tools are declared, then render
// each turn and the transition that follows it.
#include "dsml/renderer.h"

#include <algorithm>
#include <map>

#include "dsml/error.h"
#include "dsml/tokens.h"

namespace whalebox::dsml {
namespace {

constexpr std::string_view kEffortMax =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to "
    "resolve the root cause, rigorously stress-testing your logic against all potential paths, "
    "edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, "
    "considered alternative, and rejected hypothesis to ensure absolutely no assumption is left "
    "unchecked.\n\n";

constexpr std::string_view kToolsHead =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by "
    "writing a \"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types "
    "(numbers, booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning "
    "inside <think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";

constexpr std::string_view kToolsTail =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool "
    "calls.\n";

constexpr std::string_view kResponseFormat =
    "\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

// One user-turn piece after tool messages are merged: plain text or a <tool_result>.
struct Block {
  bool tool_result = false;
  std::string_view text;
  std::string_view tool_use_id;
};

// A message after preprocessing. Merged user turns own their blocks; others point at the input.
struct Turn {
  const Message* msg = nullptr;  // null for user turns built by merging
  std::string_view role;
  std::vector<Block> blocks;
  const std::optional<std::string>* task = nullptr;
  bool wo_eos = false;
  bool has_tools = false;
};

bool is_user_like(std::string_view role) { return role == "user" || role == "developer"; }

std::vector<Turn> merge_tool_messages(const std::vector<Message>& messages) {
  std::vector<Turn> turns;
  auto open_user_turn = [&]() -> Turn* {
    if (turns.empty() || turns.back().role != "user") return nullptr;
    return &turns.back();
  };
  for (const Message& m : messages) {
    if (m.role == "tool") {
      Block b{true, m.content, m.tool_call_id};
      if (Turn* t = open_user_turn()) {
        t->blocks.push_back(b);
      } else {
        Turn t2;
        t2.role = "user";
        t2.blocks.push_back(b);
        turns.push_back(std::move(t2));
      }
    } else if (m.role == "user") {
      Block b{false, m.content, {}};
      Turn* t = open_user_turn();
      if (t && !(t->task && *t->task)) {
        t->blocks.push_back(b);
      } else {
        Turn t2;
        t2.role = "user";
        t2.blocks.push_back(b);
        t2.task = &m.task;
        t2.wo_eos = m.wo_eos;
        turns.push_back(std::move(t2));
      }
    } else {
      Turn t;
      t.msg = &m;
      t.role = m.role;
      t.task = &m.task;
      t.wo_eos = m.wo_eos;
      t.has_tools = m.tools.is_array() && !m.tools.empty();
      turns.push_back(std::move(t));
    }
  }
  return turns;
}

// Tool results inside a user turn follow the order of the preceding assistant's calls; ids the
// assistant did not use sort first (position 0), as in the reference.
void sort_tool_results(std::vector<Turn>& turns) {
  std::map<std::string_view, size_t> order;
  for (Turn& t : turns) {
    if (t.role == "assistant" && !t.msg->tool_calls.empty()) {
      order.clear();
      for (size_t i = 0; i < t.msg->tool_calls.size(); ++i)
        if (!t.msg->tool_calls[i].id.empty()) order.emplace(t.msg->tool_calls[i].id, i);
    } else if (t.role == "user" && !order.empty()) {
      std::vector<Block> results;
      for (const Block& b : t.blocks)
        if (b.tool_result) results.push_back(b);
      if (results.size() < 2) continue;
      auto rank = [&](const Block& b) {
        auto it = order.find(b.tool_use_id);
        return it == order.end() ? size_t{0} : it->second;
      };
      std::stable_sort(results.begin(), results.end(),
                       [&](const Block& a, const Block& b) { return rank(a) < rank(b); });
      size_t next = 0;
      for (Block& b : t.blocks)
        if (b.tool_result) b = results[next++];
    }
  }
}

int last_user_index(const std::vector<Turn>& turns) {
  for (int i = static_cast<int>(turns.size()) - 1; i >= 0; --i)
    if (is_user_like(turns[i].role)) return i;
  return -1;
}

// Drop pass (no tools, thinking mode): before the last user turn, developer (and unknown-role)
// messages disappear; assistant turns lose their reasoning, which the caller handles by index.
std::vector<Turn> drop_old_messages(std::vector<Turn> turns) {
  int last_user = last_user_index(turns);
  std::vector<Turn> kept;
  for (int i = 0; i < static_cast<int>(turns.size()); ++i) {
    std::string_view r = turns[i].role;
    if (r == "user" || r == "system" || r == "latest_reminder" || r == "assistant" || i >= last_user)
      kept.push_back(std::move(turns[i]));
  }
  return kept;
}

void append_tools(const Json& tools, std::string& out) {
  out += "\n\n";
  out += kToolsHead;
  for (size_t i = 0; i < tools.size(); ++i) {
    if (i) out += '\n';
    const Json& t = tools[i];
    if (!t.is_object() || !t.contains("function"))
      throw Error("each tool must be {\"type\": \"function\", \"function\": {...}}");
    python_dumps_append(t["function"], out);
  }
  out += kToolsTail;
}

void append_extras(const Message& m, std::string& out) {
  if (m.tools.is_array() && !m.tools.empty()) append_tools(m.tools, out);
  bool has_format = !m.response_format.is_null() &&
                    !(m.response_format.is_object() && m.response_format.empty()) &&
                    !(m.response_format.is_array() && m.response_format.empty());
  if (has_format) {
    out += kResponseFormat;
    python_dumps_append(m.response_format, out);
  }
}

void append_user_turn(const Turn& t, std::string& out) {
  out += kUser;
  for (size_t i = 0; i < t.blocks.size(); ++i) {
    if (i) out += "\n\n";
    const Block& b = t.blocks[i];
    if (b.tool_result) {
      out += "<tool_result>";
      out += b.text;
      out += "</tool_result>";
    } else {
      out += b.text;
    }
  }
}

void append_parameters(const Json& arguments, std::string& out) {
  bool first = true;
  for (auto it = arguments.begin(); it != arguments.end(); ++it) {
    if (!first) out += '\n';
    first = false;
    out += "<｜DSML｜parameter name=\"";
    out += it.key();
    if (it.value().is_string()) {
      out += "\" string=\"true\">";
      out += it.value().get_ref<const std::string&>();
    } else {
      out += "\" string=\"false\">";
      python_dumps_append(it.value(), out);
    }
    out += kParameterClose;
  }
}

std::string_view task_token(const std::string& task) {
  for (const TaskToken& t : kTaskTokens)
    if (t.task == task) return t.token;
  std::string valid;
  for (const TaskToken& t : kTaskTokens) valid += (valid.empty() ? "" : ", ") + std::string(t.task);
  throw Error("unknown task \"" + task + "\" (valid: " + valid + ")");
}

}  // namespace

std::string render_tool_calls(const std::vector<ToolCall>& calls) {
  std::string out = "\n\n";
  out += kToolCallsOpen;
  out += '\n';
  for (size_t i = 0; i < calls.size(); ++i) {
    const ToolCall& c = calls[i];
    if (i) out += '\n';
    if (!c.raw.empty()) {
      out += c.raw;
      continue;
    }
    if (!c.arguments.is_object())
      throw Error("arguments of tool call \"" + c.name + "\" must be a JSON object");
    out += "<｜DSML｜invoke name=\"";
    out += c.name;
    out += "\">\n";
    append_parameters(c.arguments, out);
    out += '\n';
    out += kInvokeClose;
  }
  out += '\n';
  out += kToolCallsClose;
  return out;
}

std::string render(const std::vector<Message>& messages, const RenderOptions& opt) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer" &&
        r != "latest_reminder")
      throw Error("message " + std::to_string(i) + ": unknown role \"" + r + "\"");
  }
  const bool thinking = opt.mode == Mode::thinking;
  std::vector<Turn> turns = merge_tool_messages(messages);
  sort_tool_results(turns);

  bool drop = opt.drop_thinking;
  for (const Turn& t : turns) drop = drop && !t.has_tools;  // tools anywhere keep all reasoning
  if (thinking && drop) turns = drop_old_messages(std::move(turns));
  const int last_user = last_user_index(turns);

  std::string out;
  if (opt.add_bos) out += kBos;
  for (int i = 0; i < static_cast<int>(turns.size()); ++i) {
    const Turn& t = turns[i];
    if (i == 0 && thinking && opt.effort == Effort::max) out += kEffortMax;

    if (t.role == "system") {
      out += t.msg->content;
      append_extras(*t.msg, out);
    } else if (t.role == "developer") {
      if (t.msg->content.empty())
        throw Error("message " + std::to_string(i) + ": a developer message needs content");
      out += kUser;
      out += t.msg->content;
      append_extras(*t.msg, out);
    } else if (t.role == "user") {
      append_user_turn(t, out);
    } else if (t.role == "latest_reminder") {
      out += kLatestReminder;
      out += t.msg->content;
    } else {  // assistant
      const Message& m = *t.msg;
      bool prev_has_task = i > 0 && turns[i - 1].task && *turns[i - 1].task;
      if (thinking && !prev_has_task && (!drop || i > last_user)) {
        out += m.reasoning_content;
        out += kThinkEnd;
      }
      out += m.content;
      if (!m.tool_calls_raw.empty())
        out += m.tool_calls_raw;
      else if (!m.tool_calls.empty())
        out += render_tool_calls(m.tool_calls);
      if (!m.wo_eos) out += kEos;
    }

    // The transition into the next assistant turn (or the generation prompt at the end).
    bool last = i + 1 == static_cast<int>(turns.size());
    if (!last && turns[i + 1].role != "assistant" && turns[i + 1].role != "latest_reminder") continue;
    if (t.task && *t.task) {
      std::string_view token = task_token(**t.task);
      if (**t.task != "action") {
        out += token;
      } else {
        out += kAssistant;
        out += thinking ? kThinkStart : kThinkEnd;
        out += token;
      }
    } else if (is_user_like(t.role)) {
      out += kAssistant;
      out += thinking && (!drop || i >= last_user) ? kThinkStart : kThinkEnd;
    }
  }
  return out;
}

std::string render(const Request& request, const RenderOptions& opt) {
  if (!request.tools.is_array() || request.tools.empty()) return render(request.messages, opt);
  // Request-level tools go to the first system message, created when missing (as servers do).
  std::vector<Message> messages = request.messages;
  if (messages.empty() || messages[0].role != "system") {
    Message system;
    system.role = "system";
    messages.insert(messages.begin(), std::move(system));
  }
  Json& tools = messages[0].tools;
  if (!tools.is_array()) tools = Json::array();
  for (const Json& t : request.tools) tools.push_back(t);
  return render(messages, opt);
}

}  // namespace whalebox::dsml
