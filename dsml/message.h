#pragma once
// Conversation messages in OpenAI chat format, as the renderer consumes them (spec §2).
#include <optional>
#include <string>
#include <vector>

#include "dsml/json_text.h"

namespace whalebox::dsml {

enum class Mode { thinking, chat };

struct ToolCall {
  std::string id;    // OpenAI call id: only orders tool results, never rendered
  std::string name;
  Json arguments = Json::object();  // always an object; key order is the rendering order
  // Exact sampled bytes "<｜DSML｜invoke …</｜DSML｜invoke>" when the call came from the parser;
  // the renderer then reuses them verbatim so the prompt extends what was generated.
  std::string raw;
};

struct Message {
  std::string role;  // system, user, assistant, tool, developer, latest_reminder
  std::string content;
  std::string reasoning_content;
  std::vector<ToolCall> tool_calls;
  std::string tool_call_id;      // role tool
  Json tools;                    // OpenAI tool list declared on this message (null or array)
  Json response_format;          // null or a schema object
  std::optional<std::string> task;  // internal task token name (action, query, ...)
  bool wo_eos = false;           // assistant turn rendered without the closing EOS
  // Exact sampled tool-call block ("\n\n<｜DSML｜tool_calls>…</｜DSML｜tool_calls>") from the
  // parser; when set it replaces the rendering of tool_calls.
  std::string tool_calls_raw;
};

// A chat-completions request: messages plus request-level tools (attached to the first system
// message at render time, inserting an empty one when the conversation has none).
struct Request {
  std::vector<Message> messages;
  Json tools;  // null or array
};

// Readers for OpenAI JSON. Tool-call `arguments` may be a JSON object or a JSON-object string
// (both render identically); a string that is not JSON is kept as {"arguments": "<text>"} like
// the reference encoder. Throws dsml::Error naming the offending message on bad input.
Message message_from_json(const Json& j);
// Accepts {"messages": [...], "tools": [...]} or a bare array of messages.
Request request_from_json(const Json& j);

// OpenAI JSON for an assistant message (arguments as a JSON string, like the API returns it).
Json message_to_json(const Message& m);

}  // namespace whalebox::dsml
