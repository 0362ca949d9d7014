#pragma once
// `embedded` backend: the in-process V4 engine (model/). The conversation is rendered to the V4
// prompt exactly as for the completions backend and the output parsed by the DSML stream parser.
// Each conversation's KV cache is kept across turns: the cache holds the sampled token ids, the
// next prompt must extend the text they decode to, and only the appended text (tool results,
// user text, the assistant prefix) is tokenised and processed. A prompt that does not extend any
// cached sequence is processed afresh (logged). The engine runs on a worker thread; tokens are
// posted back to the session's event loop as they are generated.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/backend.h"
#include "agent/config.h"
#include "model/engine.h"
#include "model/sampling.h"

namespace whalebox::agent {

struct EmbeddedOptions {
  model::SamplingParams sampling{.greedy = true};
  long default_max_tokens = 1024;  // per turn, when the request sets none
  size_t max_sequences = 4;        // conversations whose KV cache is kept (batch runs several)
  // Edits the logits before each sample (set -inf to forbid); sees this turn's tokens so far.
  std::function<void(std::vector<float>& logits, const std::vector<int32_t>& generated)> logit_hook;
};

// Loads the checkpoint directory cfg.model (BackendError when it cannot). request_extra may set
// "temperature", "top_p", "top_k" and "seed" (default: greedy).
// max_sequences: conversations whose KV cache is kept (a batch keeps one per concurrent task).
std::unique_ptr<Backend> make_embedded_backend(const BackendConfig& cfg, size_t max_sequences = 4);
std::unique_ptr<Backend> make_embedded_backend(std::shared_ptr<const model::Model> m, EmbeddedOptions opts);

// A directory that holds a checkpoint (config.json and weights).
bool is_model_dir(const std::string& dir);
// models/whale-tiny under the working directory, else beside the binary's parent directory
// (build/whalebox → models/whale-tiny of the source tree); nullopt when neither exists.
std::optional<std::string> default_model_dir();

}  // namespace whalebox::agent
