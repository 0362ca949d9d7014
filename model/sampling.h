#pragma once
// Token sampling and the generation loop: greedy, temperature, top-k, top-p, seeded; stop on
// EOS; a logit hook (e.g. constrain tokens inside DSML structure) and a per-token callback.
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "model/engine.h"

namespace whalebox::model {

struct SamplingParams {
  bool greedy = false;
  float temperature = 1.0f;
  float top_p = 1.0f;
  int top_k = 0;  // 0: all
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams p) : p_(p), rng_(p.seed) {}
  int32_t sample(const float* logits, int64_t vocab);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

struct GenerateOptions {
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<int32_t> stop_tokens;  // EOS by default (filled from the config when empty)
  // May edit logits before sampling (set -inf to forbid); sees the tokens generated so far.
  std::function<void(std::vector<float>& logits, const std::vector<int32_t>& generated)> logit_hook;
  // Called with each sampled token; return false to stop.
  std::function<bool(int32_t token)> on_token;
  // Asked between prompt chunks (Model's prefill_chunk): true stops before any token is sampled,
  // with stop_reason "stopped" and the cache holding res.prompt_tokens of the prompt.
  std::function<bool()> stop_prefill;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated (the stop token included when one was sampled)
  std::string stop_reason;      // "stop_token", "max_tokens", "callback", "stopped" (in the prompt)
  int64_t prompt_tokens = 0;    // tokens processed for the prompt (only the new ones)
};

// Appends `prompt` (the new tokens only) to `cache`, then samples until a stop. Every sampled
// token is fed back, so afterwards cache.tokens() ends with the generated tokens and the next
// turn only appends its own new tokens.
GenerateResult generate(const Model& m, KvCache& cache, const std::vector<int32_t>& prompt, const GenerateOptions& o);

}  // namespace whalebox::model
