#include "agent/cli_options.h"

#include "agent/backend_factory.h"

namespace whalebox::agent {

void add_common_flags(CLI::App* cmd, CommonFlags& f, bool with_approve) {
  cmd->add_option("--config", f.config_file,
                  "JSON config file (default: $WHALEBOX_CONFIG, then ~/.config/whalebox/config.json)");
  cmd->add_option("--backend", f.backend,
                  "Model backend: embedded (the in-process engine; the default when models/whale-tiny or a "
                  "--model DIR checkpoint is found), openai, completions or replay");
  cmd->add_option("--base-url", f.base_url, "Server URL ending in /v1 (openai, completions)");
  cmd->add_option("--model", f.model,
                  "Model name sent to the server; for embedded, the checkpoint directory (config.json, "
                  "*.safetensors, tokenizer.json; default models/whale-tiny)");
  cmd->add_option("--api-key-env", f.api_key_env, "Environment variable holding the API key");
  cmd->add_option("--replay", f.replay, "JSONL of recorded completions (sets --backend replay)");
  cmd->add_option("--max-turns", f.max_turns, "Most model turns per task");
  cmd->add_option("--max-tokens", f.max_tokens, "Most generated tokens per task");
  cmd->add_option("--wall-seconds", f.wall_seconds, "Wall-clock budget per task");
  cmd->add_option("--tool-timeout", f.tool_timeout, "Seconds before one tool call is killed");
  cmd->add_option("--tools", f.tools,
                  "Declared tools: builtin (bash, files, search), or whale-tiny (the four tools and the system "
                  "prompt whale-tiny was trained with: read_file, write_file, list_dir, run_shell)")
      ->check(CLI::IsMember({"builtin", "whale-tiny"}));
  cmd->add_flag("--no-thinking", f.no_thinking, "Chat mode: no reasoning before answers");
  if (with_approve)
    cmd->add_option("--approve", f.approve, "Before commands that change things: ask, auto or read-only")
        ->check(CLI::IsMember({"ask", "auto", "read-only"}));
}

AgentConfig resolve_config(const CommonFlags& f) {
  AgentConfig cfg;
  load_config(cfg, f.config_file);
  if (f.replay) {
    cfg.backend.kind = "replay";
    cfg.backend.replay_file = *f.replay;
  }
  if (f.backend) cfg.backend.kind = *f.backend;
  if (f.base_url) cfg.backend.base_url = *f.base_url;
  if (f.model) cfg.backend.model = *f.model;
  if (f.api_key_env) cfg.backend.api_key_env = *f.api_key_env;
  if (f.max_turns) cfg.limits.max_turns = *f.max_turns;
  if (f.max_tokens) cfg.limits.max_tokens = *f.max_tokens;
  if (f.wall_seconds) cfg.limits.wall_seconds = *f.wall_seconds;
  if (f.tool_timeout) cfg.limits.tool_timeout_seconds = *f.tool_timeout;
  if (f.no_thinking) cfg.thinking = false;
  choose_backend(cfg.backend);
  if (f.approve) cfg.approve = *f.approve;
  if (f.tools) cfg.tools = *f.tools;
  if (cfg.limits.max_turns < 1) throw std::invalid_argument("--max-turns must be at least 1");
  if (cfg.limits.wall_seconds <= 0) throw std::invalid_argument("--wall-seconds must be positive");
  if (cfg.limits.tool_timeout_seconds <= 0) throw std::invalid_argument("--tool-timeout must be positive");
  return cfg;
}

}  // namespace whalebox::agent
