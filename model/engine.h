#pragma once
// The embedded V4 engine: a loaded checkpoint (config.json + safetensors + tokenizer.json) and
// the forward pass over a sequence's KV cache. Appending tokens costs only the new tokens; the
// cache can be snapshotted, restored and forked (kv_cache.h).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/tokenizer.h"
#include "model/weights.h"

namespace whalebox::model {

struct EngineOptions {
  // Exact emulation of the FP32 reference numerics with its FP8 KV / FP4 indexer simulations:
  // FP4-rounded indexer queries and FP32 rope dims in KV entries. Off = fast mode: the 584-byte
  // production entry (BF16 rope dims), FP4 indexer queries scored with int8 dot products, and
  // BF16 inputs to the linears (BF16 dot products; the official model rounds them to FP8).
  bool exact = true;
  // No KV/indexer rounding at all (FP32 cache): the reference with its simulations off.
  bool plain = false;
  bool mtp = false;             // run the MTP block alongside (speculative-decoding drafts)
  int64_t prefill_chunk = 256;  // tokens per prefill chunk (bounds activation memory)
};

struct Logits {
  std::vector<float> values;  // rows x vocab
  int64_t rows = 0, vocab = 0;
  const float* row(int64_t i) const { return values.data() + i * vocab; }
  const float* last() const { return row(rows - 1); }
};

struct ForwardOptions {
  bool all_positions = false;  // logits for every new position, else the last only
  Trace* trace = nullptr;
  Logits* mtp = nullptr;  // MTP logits (token p+2) of every MTP step run by this call
  // Asked between prefill chunks: true stops there. The cache then holds the tokens processed so
  // far (cache.length() tells how many), a consistent state to continue from later.
  std::function<bool()> stop_between_chunks;
};

class Model {
 public:
  // dir: config.json, *.safetensors (single or sharded), tokenizer.json (optional).
  static std::unique_ptr<Model> load(const std::string& dir, EngineOptions opts = {});
  static std::unique_ptr<Model> open(Config c, SafeTensors st, EngineOptions opts = {});

  const Config& config() const { return cfg_; }
  const ModelWeights& weights() const { return *w_; }
  const Tokenizer* tokenizer() const { return tok_ ? &*tok_ : nullptr; }
  EngineOptions& options() { return opts_; }
  const EngineOptions& options() const { return opts_; }

  // dense: the benchmark's dense-attention baseline (every layer attends to every past token).
  KvCache new_cache(bool dense = false) const;
  // Appends `tokens` to the sequence in `cache` and returns logits of the new positions.
  Logits forward(KvCache& cache, const std::vector<int32_t>& tokens, const ForwardOptions& fo = {}) const;

 private:
  Model() = default;
  void block_forward(const BlockWeights& b, KvCache& cache, int slot, float* X, const int32_t* tokens, int64_t pos0,
                     int64_t T, Trace* trace) const;
  void logits_for(const HcWeights& hc, const std::vector<float>& norm, const float* X, float* out) const;
  void run_mtp(KvCache& cache, const std::vector<float>& X, int64_t pos0, int64_t T, const std::vector<int32_t>& tokens,
               Logits* out) const;

  Config cfg_;
  std::unique_ptr<ModelWeights> w_;
  std::optional<Tokenizer> tok_;
  std::vector<Rope> ropes_;  // per block (main + MTP)
  EngineOptions opts_;
  bool fast() const { return !opts_.exact && !opts_.plain; }
};

}  // namespace whalebox::model
