#pragma once
// Checks a model's tool call before it runs: parse problems, unknown tools, arguments against
// the tool's JSON Schema (dsml/ validator). The error text goes back to the model as the result.
#include <string>

#include "agent/backend.h"
#include "dsml/validator.h"

namespace whalebox::agent {

struct CheckedCall {
  json arguments;     // validated (with the validator's coercions) when error is empty
  std::string error;  // why the call cannot run
};

CheckedCall check_call(const ToolCall& call, const dsml::ToolSet& tools);

}  // namespace whalebox::agent
