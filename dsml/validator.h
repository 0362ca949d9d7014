#pragma once
// Checks a parsed call against the declared tools' JSON Schemas (spec §9.4). Each failure is a
// structured error whose message is written to be sent back to the model as the tool result.
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dsml/parser.h"

namespace whalebox::dsml {

// Declared tools by name: OpenAI form {"type":"function","function":{…}} or bare {name, parameters}.
class ToolSet {
 public:
  ToolSet() = default;
  explicit ToolSet(const Json& tools);  // throws dsml::Error on a malformed list
  const Json* schema(std::string_view name) const;  // the "parameters" schema, or nullptr
  std::vector<std::string> names() const;           // in declaration order
  bool empty() const { return order_.empty(); }

 private:
  std::unordered_map<std::string, Json> by_name_;
  std::vector<std::string> order_;
};

enum class ErrorCode {
  incomplete_call,     // cut off before </｜DSML｜invoke>
  unknown_tool,
  unknown_parameter,
  duplicate_parameter,
  missing_parameter,   // a required one
  invalid_json,        // string="false" text that is not JSON
  type_mismatch,
  enum_mismatch,
  invalid_value,       // e.g. a NUL byte
};

struct ValidationError {
  ErrorCode code;
  std::string parameter;  // empty for call-level errors
  std::string message;    // fit to send to the model as a tool result
};

struct Validation {
  bool ok() const { return errors.empty(); }
  Json arguments = Json::object();  // with unambiguous coercions applied ("5" → 5 for an integer)
  std::vector<ValidationError> errors;
};

Validation validate(const ParsedCall& call, const ToolSet& tools);
// Schema-free checks only (completeness, duplicates, JSON of string="false" values).
Validation check_syntax(const ParsedCall& call);

// All errors of one call as one text for the model.
std::string error_report(const ParsedCall& call, const Validation& v);

std::string_view error_code_name(ErrorCode code);

}  // namespace whalebox::dsml
