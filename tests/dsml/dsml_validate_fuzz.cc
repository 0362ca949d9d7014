// libFuzzer: the validator. Input = "<tools JSON>\x00<completion>"; every parsed call is
// validated against the tools (whatever schema shapes the fuzzer invents).
#include <cstdint>
#include <cstring>
#include <string_view>

#include "dsml/error.h"
#include "dsml/parser.h"
#include "dsml/validator.h"

using namespace whalebox::dsml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t nul = all.find('\0');
  if (nul == std::string_view::npos) return 0;
  Json tools_json = Json::parse(all.substr(0, nul), nullptr, false);
  if (tools_json.is_discarded()) return 0;
  ToolSet tools;
  try {
    tools = ToolSet(tools_json);
  } catch (const Error&) {
    return 0;
  }
  ParsedMessage m = parse_completion(all.substr(nul + 1), Mode::chat);
  for (const ParsedCall& call : m.tool_calls) {
    Validation v = validate(call, tools);
    (void)error_report(call, v);
    if (v.ok() && !call.complete) abort();  // an incomplete call is never valid
  }
  return 0;
}
