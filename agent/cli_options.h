#pragma once
// Flags shared by `run`, `chat` and `batch`: the config file and its overrides.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "agent/config.h"

namespace whalebox::agent {

struct CommonFlags {
  std::string config_file;
  std::optional<std::string> backend, base_url, model, replay, api_key_env, approve, tools;
  std::optional<int> max_turns;
  std::optional<long> max_tokens;
  std::optional<double> wall_seconds, tool_timeout;
  bool no_thinking = false;
};

void add_common_flags(CLI::App* cmd, CommonFlags& f, bool with_approve);

// The config file (if any) with the flags applied on top. Throws std::invalid_argument.
AgentConfig resolve_config(const CommonFlags& f);

}  // namespace whalebox::agent
