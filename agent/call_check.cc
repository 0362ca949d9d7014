#include "agent/call_check.h"

namespace whalebox::agent {

namespace {

// An OpenAI-style call (arguments as JSON text) in the parser's form, so one validator serves
// both kinds of backend.
bool to_parsed(const ToolCall& call, dsml::ParsedCall& out, std::string& error) {
  out.name = call.name;
  out.complete = true;
  auto args = json::parse(call.arguments.empty() ? "{}" : call.arguments, nullptr, false);
  if (!args.is_object()) {
    std::string shown = call.arguments.size() > 200 ? call.arguments.substr(0, 200) + "…" : call.arguments;
    error = "the arguments of this call are not a JSON object: " + shown;
    return false;
  }
  for (const auto& [k, v] : args.items())
    out.params.push_back({k, v.is_string() ? v.get<std::string>() : v.dump(), v.is_string()});
  out.arguments = std::move(args);
  return true;
}

}  // namespace

CheckedCall check_call(const ToolCall& call, const dsml::ToolSet& tools) {
  CheckedCall out;
  if (!call.error.empty()) {
    out.error = call.error;
    return out;
  }
  dsml::ParsedCall parsed;
  if (call.parsed) {
    parsed = *call.parsed;
  } else if (!to_parsed(call, parsed, out.error)) {
    return out;
  }
  dsml::Validation v = dsml::validate(parsed, tools);
  if (!v.ok()) {
    out.error = dsml::error_report(parsed, v);
    return out;
  }
  out.arguments = std::move(v.arguments);
  return out;
}

}  // namespace whalebox::agent
