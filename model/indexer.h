#pragma once
// Lightning indexer of CSA layers (spec §7): per query, score every visible compressed entry
// with I_j = sum_h w_h relu(q_h . K_j) over FP4 keys and keep the top k.
#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/rope.h"

namespace whalebox::model {

// q: [heads, dim] raw projections for position t -> RoPE, then Hadamard (keys are stored
// rotated unless the layout is plain) and FP4 rounding if `fp4`.
void indexer_prepare_query(const Config& c, const Rope& rope, float* q, int64_t t, bool rotate, bool fp4);
// Indices (ascending) of the top-k entries among keys [0, n_visible); scores written if non-null.
std::vector<int32_t> indexer_topk(const Config& c, KvLayout layout, const PagedEntries& keys, int64_t n_visible, const float* q,
                                  const float* head_w, std::vector<float>* scores_out = nullptr);

}  // namespace whalebox::model
