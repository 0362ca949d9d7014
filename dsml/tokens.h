#pragma once
// Special-token strings of the DeepSeek-V4 chat format (spec §1) and the DSML tag pieces (§6).
// `｜` is U+FF5C (EF BD 9C), `▁` is U+2581 (E2 96 81).
#include <string_view>

namespace whalebox::dsml {

inline constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kUser = "<｜User｜>";
inline constexpr std::string_view kAssistant = "<｜Assistant｜>";
inline constexpr std::string_view kLatestReminder = "<｜latest_reminder｜>";
inline constexpr std::string_view kThinkStart = "<think>";
inline constexpr std::string_view kThinkEnd = "</think>";
inline constexpr std::string_view kDsml = "｜DSML｜";

// DSML markup as the encoder writes it.
inline constexpr std::string_view kTagOpen = "<｜DSML｜";    // starts every opening tag
inline constexpr std::string_view kTagClose = "</｜DSML｜";  // starts every closing tag
inline constexpr std::string_view kToolCallsOpen = "<｜DSML｜tool_calls>";
inline constexpr std::string_view kToolCallsClose = "</｜DSML｜tool_calls>";
inline constexpr std::string_view kInvokeClose = "</｜DSML｜invoke>";
inline constexpr std::string_view kParameterClose = "</｜DSML｜parameter>";

// Internal "quick instruction" task tokens, keyed by the message's `task` value.
struct TaskToken {
  std::string_view task;
  std::string_view token;
};
inline constexpr TaskToken kTaskTokens[] = {
    {"action", "<｜action｜>"}, {"query", "<｜query｜>"}, {"authority", "<｜authority｜>"},
    {"domain", "<｜domain｜>"}, {"title", "<｜title｜>"}, {"read_url", "<｜read_url｜>"},
};

}  // namespace whalebox::dsml
