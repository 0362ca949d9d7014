// libFuzzer: the streaming parser on arbitrary bytes and arbitrary chunkings. The first byte
// picks mode and chunk size; the result must not depend on the chunking.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dsml/parser.h"
#include "dsml/validator.h"

using namespace whalebox::dsml;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Mode mode = data[0] & 1 ? Mode::chat : Mode::thinking;
  size_t chunk = 1 + (data[0] >> 1) % 16;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  size_t events = 0;
  StreamParser chunked(mode, [&](const Event&) { ++events; });
  for (size_t i = 0; i < text.size(); i += chunk) chunked.feed(text.substr(i, chunk));
  chunked.finish();
  ParsedMessage whole = parse_completion(text, mode);

  const ParsedMessage& a = chunked.message();
  if (a.reasoning_content != whole.reasoning_content || a.content != whole.content ||
      a.tool_calls.size() != whole.tool_calls.size() || a.tool_calls_raw != whole.tool_calls_raw ||
      a.errors.size() != whole.errors.size() || a.incomplete != whole.incomplete)
    abort();
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    if (a.tool_calls[i].raw != whole.tool_calls[i].raw || a.tool_calls[i].arguments != whole.tool_calls[i].arguments)
      abort();
    (void)check_syntax(a.tool_calls[i]);
  }
  // Bounded memory: what the parser keeps never exceeds what it was given.
  if (a.reasoning_content.size() + a.content.size() > text.size() || a.tool_calls_raw.size() > text.size()) abort();
  return 0;
}
