#include "agent/backend_factory.h"

#include <stdexcept>

#include "agent/backend_completions.h"
#include "agent/backend_embedded.h"
#include "agent/backend_openai.h"
#include "agent/backend_replay.h"

namespace whalebox::agent {

void choose_backend(BackendConfig& cfg) {
  const bool model_default = cfg.model == kDefaultServerModel;
  if (cfg.kind.empty() && is_model_dir(cfg.model)) cfg.kind = "embedded";
  if (cfg.kind.empty() && model_default && cfg.base_url == kDefaultBaseUrl && default_model_dir()) cfg.kind = "embedded";
  if (cfg.kind == "embedded" && model_default)
    if (auto dir = default_model_dir()) cfg.model = *dir;
  if (cfg.kind.empty()) cfg.kind = "openai";
}

std::unique_ptr<Backend> make_backend(const BackendConfig& in) {
  BackendConfig cfg = in;
  choose_backend(cfg);
  if (cfg.kind == "embedded") return make_embedded_backend(cfg);
  if (cfg.kind == "openai") return make_openai_backend(cfg);
  if (cfg.kind == "completions") return make_completions_backend(cfg);
  if (cfg.kind == "replay") {
    if (cfg.replay_file.empty()) throw std::invalid_argument("the replay backend needs a replay file (--replay FILE)");
    return make_replay_backend(load_replay_file(cfg.replay_file));
  }
  throw std::invalid_argument("unknown backend '" + cfg.kind + "' (openai, completions, replay or embedded)");
}

}  // namespace whalebox::agent
