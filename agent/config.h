#pragma once
// Configuration of an agent run: backend, model, limits, approval. Read from a JSON file
// (`--config FILE`, else $WHALEBOX_CONFIG, else ~/.config/whalebox/config.json when present),
// then overridden by command-line flags. Unknown keys are errors, so typos do not go unnoticed.
#include <nlohmann/json.hpp>
#include <string>

namespace whalebox::agent {

inline constexpr const char* kDefaultBaseUrl = "https://api.deepseek.com/v1";
inline constexpr const char* kDefaultServerModel = "deepseek-chat";

struct BackendConfig {
  // openai | completions | replay | embedded; empty: chosen by choose_backend() (backend_factory.h)
  std::string kind;
  std::string base_url = kDefaultBaseUrl;
  std::string model = kDefaultServerModel;  // the server's model name; embedded: the checkpoint directory
  std::string api_key_env = "DEEPSEEK_API_KEY";
  std::string replay_file;              // replay: JSONL of completions
  nlohmann::json request_extra = nlohmann::json::object();  // merged into every request body
  int max_attempts = 5;                 // per request, with exponential backoff
  long retry_delay_ms = 500;
  long idle_timeout_ms = 300000;
};

struct Limits {
  int max_turns = 50;                   // model calls per task
  long max_tokens = 0;                  // generated tokens per task (0: unlimited)
  long max_tokens_per_turn = 0;         // max_tokens sent with each request (0: backend default)
  double wall_seconds = 1800;           // whole task
  double tool_timeout_seconds = 120;    // one tool call
  size_t output_cap_bytes = 16384;      // tool output shown to the model
};

struct AgentConfig {
  BackendConfig backend;
  Limits limits;
  bool thinking = true;
  std::string approve = "ask";          // ask | auto | read-only (chat); run/batch use auto
  std::string system_prompt;            // extra text appended to the built-in system prompt
  // Declared tools: builtin, or whale-tiny (the four tools whale-tiny was trained with, and its
  // training system prompt).
  std::string tools = "builtin";
};

// Applies the keys of `j` over `cfg`; throws std::invalid_argument naming the bad key.
void apply_config_json(AgentConfig& cfg, const nlohmann::json& j);

// Loads `path` (or the default locations when empty) into cfg; a missing default file is fine,
// a missing explicit one is an error.
void load_config(AgentConfig& cfg, const std::string& path);

}  // namespace whalebox::agent
