#pragma once
// Byte-exact DeepSeek-V4 prompt rendering (the official encode_messages, spec §2-§7).
#include <string>
#include <vector>

#include "dsml/message.h"

namespace whalebox::dsml {

enum class Effort { none, high, max };  // "high" renders like none; "max" adds the §2 paragraph

struct RenderOptions {
  Mode mode = Mode::thinking;
  Effort effort = Effort::none;
  bool drop_thinking = true;  // forced off when any message declares tools
  bool add_bos = true;
};

// Throws dsml::Error on messages the format cannot express (unknown role or task, empty
// developer message, non-object tool arguments).
std::string render(const Request& request, const RenderOptions& options = {});
std::string render(const std::vector<Message>& messages, const RenderOptions& options = {});

// The DSML block for one assistant turn, "\n\n<｜DSML｜tool_calls>\n…\n</｜DSML｜tool_calls>".
std::string render_tool_calls(const std::vector<ToolCall>& calls);

}  // namespace whalebox::dsml
