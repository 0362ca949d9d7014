#include "agent/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace whalebox::agent {

namespace {

template <class T>
void take(const nlohmann::json& j, const char* key, T& out) {
  try {
    out = j.get<T>();
  } catch (const nlohmann::json::exception&) {
    throw std::invalid_argument(std::string("config key '") + key + "' has the wrong type (" +
                                j.type_name() + ")");
  }
}

void apply_backend(BackendConfig& b, const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("config key 'backend' must be an object");
  for (const auto& [k, v] : j.items()) {
    if (k == "kind") take(v, "backend.kind", b.kind);
    else if (k == "base_url") take(v, "backend.base_url", b.base_url);
    else if (k == "model") take(v, "backend.model", b.model);
    else if (k == "api_key_env") take(v, "backend.api_key_env", b.api_key_env);
    else if (k == "replay_file") take(v, "backend.replay_file", b.replay_file);
    else if (k == "request_extra") {
      if (!v.is_object()) throw std::invalid_argument("config key 'backend.request_extra' must be an object");
      b.request_extra = v;
    } else if (k == "max_attempts") take(v, "backend.max_attempts", b.max_attempts);
    else if (k == "retry_delay_ms") take(v, "backend.retry_delay_ms", b.retry_delay_ms);
    else if (k == "idle_timeout_ms") take(v, "backend.idle_timeout_ms", b.idle_timeout_ms);
    else throw std::invalid_argument("unknown config key 'backend." + k + "'");
  }
}

void apply_limits(Limits& l, const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("config key 'limits' must be an object");
  for (const auto& [k, v] : j.items()) {
    if (k == "max_turns") take(v, "limits.max_turns", l.max_turns);
    else if (k == "max_tokens") take(v, "limits.max_tokens", l.max_tokens);
    else if (k == "max_tokens_per_turn") take(v, "limits.max_tokens_per_turn", l.max_tokens_per_turn);
    else if (k == "wall_seconds") take(v, "limits.wall_seconds", l.wall_seconds);
    else if (k == "tool_timeout_seconds") take(v, "limits.tool_timeout_seconds", l.tool_timeout_seconds);
    else if (k == "output_cap_bytes") take(v, "limits.output_cap_bytes", l.output_cap_bytes);
    else throw std::invalid_argument("unknown config key 'limits." + k + "'");
  }
}

}  // namespace

void apply_config_json(AgentConfig& cfg, const nlohmann::json& j) {
  if (!j.is_object()) throw std::invalid_argument("the config file must hold a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (k == "backend") apply_backend(cfg.backend, v);
    else if (k == "limits") apply_limits(cfg.limits, v);
    else if (k == "thinking") take(v, "thinking", cfg.thinking);
    else if (k == "approve") take(v, "approve", cfg.approve);
    else if (k == "system_prompt") take(v, "system_prompt", cfg.system_prompt);
    else if (k == "tools") take(v, "tools", cfg.tools);
    else throw std::invalid_argument("unknown config key '" + k + "'");
  }
  if (cfg.tools != "builtin" && cfg.tools != "whale-tiny")
    throw std::invalid_argument("config key 'tools' must be builtin or whale-tiny, not '" + cfg.tools + "'");
  if (cfg.approve != "ask" && cfg.approve != "auto" && cfg.approve != "read-only")
    throw std::invalid_argument("config key 'approve' must be ask, auto or read-only, not '" +
                                cfg.approve + "'");
}

void load_config(AgentConfig& cfg, const std::string& path) {
  std::string file = path;
  bool explicit_path = !file.empty();
  if (file.empty()) {
    if (const char* env = std::getenv("WHALEBOX_CONFIG"); env && *env) {
      file = env;
      explicit_path = true;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      file = std::string(home) + "/.config/whalebox/config.json";
    }
  }
  if (file.empty()) return;
  std::ifstream in(file);
  if (!in) {
    if (explicit_path) throw std::invalid_argument("cannot read config file " + file);
    return;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument("config file " + file + " is not valid JSON: " + e.what());
  }
  try {
    apply_config_json(cfg, j);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(file + ": " + e.what());
  }
}

}  // namespace whalebox::agent
