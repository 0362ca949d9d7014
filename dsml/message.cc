#include "dsml/message.h"

#include "dsml/error.h"

namespace whalebox::dsml {
namespace {

std::string where(size_t index) { return "message " + std::to_string(index); }

// Content may be a string, null, or a list of parts; parts render like the reference encoder
// renders list-valued tool results: text joined by "\n\n", other parts as "[Unsupported <type>]".
std::string read_content(const Json& v, const std::string& ctx) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) throw Error(ctx + ": \"content\" must be a string, null or a list of parts");
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    const Json& part = v[i];
    if (i) out += "\n\n";
    std::string type = part.is_object() ? part.value("type", "") : "";
    if (type == "text" && part.contains("text") && part["text"].is_string())
      out += part["text"].get<std::string>();
    else
      out += "[Unsupported " + (type.empty() ? std::string("None") : type) + "]";
  }
  return out;
}

std::string read_string(const Json& obj, const char* key, const std::string& ctx) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) throw Error(ctx + ": \"" + key + "\" must be a string");
  return it->get<std::string>();
}

Json read_arguments(const Json& v, const std::string& ctx) {
  if (v.is_null()) return Json::object();
  if (v.is_object()) return v;
  if (!v.is_string()) throw Error(ctx + ": \"arguments\" must be a JSON object or a JSON string");
  const std::string& text = v.get_ref<const std::string&>();
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Json{{"arguments", text}};  // as the reference encoder does
  if (!parsed.is_object())
    throw Error(ctx + ": \"arguments\" must encode a JSON object, got " + std::string(parsed.type_name()));
  return parsed;
}

ToolCall read_tool_call(const Json& j, const std::string& ctx) {
  if (!j.is_object()) throw Error(ctx + ": each tool call must be an object");
  ToolCall call;
  call.id = read_string(j, "id", ctx);
  const Json* fn = &j;  // OpenAI nests name/arguments under "function"; accept them flat too
  if (auto it = j.find("function"); it != j.end()) {
    if (!it->is_object()) throw Error(ctx + ": \"function\" must be an object");
    fn = &*it;
  }
  call.name = read_string(*fn, "name", ctx);
  if (call.name.empty()) throw Error(ctx + ": tool call has no function name");
  if (auto it = fn->find("arguments"); it != fn->end()) call.arguments = read_arguments(*it, ctx);
  call.raw = read_string(j, "raw", ctx);
  return call;
}

}  // namespace

Message message_from_json(const Json& j) { 
  if (!j.is_object()) throw Error("each message must be a JSON object");
  Message m;
  const std::string ctx = "message with role \"" + (j.contains("role") && j["role"].is_string() ? j["role"].get<std::string>() : std::string("?")) + "\"";
  m.role = read_string(j, "role", ctx);
  if (m.role.empty()) throw Error("a message has no \"role\"");
  if (auto it = j.find("content"); it != j.end()) m.content = read_content(*it, ctx);
  m.reasoning_content = read_string(j, "reasoning_content", ctx);
  if (auto it = j.find("tool_calls"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) throw Error(ctx + ": \"tool_calls\" must be a list");
    for (const Json& tc : *it) m.tool_calls.push_back(read_tool_call(tc, ctx));
  }
  m.tool_call_id = read_string(j, "tool_call_id", ctx);
  if (auto it = j.find("tools"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) throw Error(ctx + ": \"tools\" must be a list");
    m.tools = *it;
  }
  if (auto it = j.find("response_format"); it != j.end()) m.response_format = *it;
  if (auto it = j.find("task"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw Error(ctx + ": \"task\" must be a string");
    m.task = it->get<std::string>();
  }
  if (auto it = j.find("wo_eos"); it != j.end() && it->is_boolean()) m.wo_eos = it->get<bool>();
  m.tool_calls_raw = read_string(j, "tool_calls_raw", ctx);
  return m;
}

Request request_from_json(const Json& j) {
  Request r;
  const Json* messages = &j;
  if (j.is_object()) {
    auto it = j.find("messages");
    if (it == j.end()) throw Error("request has no \"messages\" list");
    messages = &*it;
    if (auto t = j.find("tools"); t != j.end() && !t->is_null()) {
      if (!t->is_array()) throw Error("request \"tools\" must be a list");
      r.tools = *t;
    }
  }
  if (!messages->is_array())
    throw Error("expected a request object {\"messages\": [...]} or an array of messages");
  for (size_t i = 0; i < messages->size(); ++i) {
    try {
      r.messages.push_back(message_from_json((*messages)[i]));
    } catch (const Error& e) {
      throw Error(where(i) + ": " + e.what());
    }
  }
  return r;
}

Json message_to_json(const Message& m) {
  Json j = Json::object();
  j["role"] = m.role;
  j["content"] = m.content;
  if (!m.reasoning_content.empty()) j["reasoning_content"] = m.reasoning_content;
  if (!m.tool_calls.empty()) {
    Json calls = Json::array();
    for (const ToolCall& c : m.tool_calls) {
      Json call = {{"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", python_dumps(c.arguments)}}}};
      if (!c.id.empty()) call["id"] = c.id;
      if (!c.raw.empty()) call["raw"] = c.raw;
      calls.push_back(std::move(call));
    }
    j["tool_calls"] = std::move(calls);
  }
  if (!m.tool_calls_raw.empty()) j["tool_calls_raw"] = m.tool_calls_raw;
  if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
  if (!m.tools.is_null()) j["tools"] = m.tools;
  if (m.task) j["task"] = *m.task;
  if (m.wo_eos) j["wo_eos"] = true;
  return j;
}

}  // namespace whalebox::dsml
