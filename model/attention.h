#pragma once
// The attention sublayer of every V4 block kind (spec §5-9) for a chunk of new tokens: query
// and KV paths, compressors, indexer top-k, one joint softmax with the sink over window ∪
// compressed entries, inverse RoPE, grouped output projection.
#include <cstdint>
#include <map>
#include <vector>

#include "model/kernels.h"
#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/weights.h"

namespace whalebox::model {

// What a forward pass can record for parity checks.
struct Trace {
  std::map<int, std::vector<std::vector<int32_t>>> topk;  // CSA layer -> per position, chosen entries
};

struct AttentionCall {
  const Config& c;
  const BlockWeights& b;
  const Rope& rope;
  LayerCache& cache;
  std::vector<uint16_t>* dense_kv = nullptr;  // dense baseline: every past token, BF16, no compression
  bool fp4_queries = true;                    // exact emulation: FP4-round indexer queries
  KvLayout layout = KvLayout::Production;     // the cache's entry layout
  bool int8_indexer = false;                  // fast mode: FP4 queries, integer dot products (production layout)
  Inputs inputs = Inputs::F32;                // linears' input precision (BF16 in fast mode)
  Trace* trace = nullptr;
};

// a: [T, d] normalised inputs of positions pos0 .. pos0+T-1; out: [T, d].
void attention_forward(const AttentionCall& call, const float* a, int64_t pos0, int64_t T, float* out);

}  // namespace whalebox::model
