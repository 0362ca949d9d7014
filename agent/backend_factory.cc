#include "agent/backend_factory.h"

#include <stdexcept>

#include "agent/backend_completions.h"
#include "agent/backend_openai.h"
#include "agent/backend_replay.h"

namespace whalebox::agent {

std::unique_ptr<Backend> make_backend(const BackendConfig& cfg) {
  if (cfg.kind == "openai") return make_openai_backend(cfg);
  if (cfg.kind == "completions") return make_completions_backend(cfg);
  if (cfg.kind == "replay") {
    if (cfg.replay_file.empty()) throw std::invalid_argument("the replay backend needs a replay file (--replay FILE)");
    return make_replay_backend(load_replay_file(cfg.replay_file));
  }
  throw std::invalid_argument("unknown backend '" + cfg.kind + "' (openai, completions or replay)");
}

}  // namespace whalebox::agent
