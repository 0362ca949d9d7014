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

// Fast mode: q [heads, dim] prepared without FP4 rounding is FP4-encoded like the keys (the
// rounding the official model applies) and scored against them with exact per-block integer dot
// products (AVX-512 VNNI or AVX2, the same sums in scalar code otherwise).
std::vector<int32_t> indexer_topk_fp4(const Config& c, const PagedEntries& keys, int64_t n_visible, const float* q,
                                      const float* head_w, std::vector<float>* scores_out = nullptr);
// The scalar fast-mode scores (tests compare the SIMD kernels with it); q as FP4 entries per head.
void indexer_scores_fp4_scalar(const Config& c, const PagedEntries& keys, int64_t n, const uint8_t* q,
                               const float* head_w, float* scores);
// indexer_int8.cc: false (nothing written) where the kernels are scalar (no AVX2, or WHALEBOX_ISA)
// or the shape is unsupported.
bool indexer_scores_int8(const Config& c, const PagedEntries& keys, int64_t n, const uint8_t* q, const float* head_w,
                         float* scores);
// Indices (ascending) of the k highest scores; equal scores keep the lower index.
std::vector<int32_t> topk_indices(const std::vector<float>& scores, int64_t k);

}  // namespace whalebox::model
