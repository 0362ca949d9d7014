#pragma once
// Token-level KV compressor (spec §6), incremental form: each token's values A and gate logits
// G (+ ape) enter the state; the token that completes a block of `ratio` emits one entry.
#include <cstdint>

#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/weights.h"

namespace whalebox::model {

// A, G: kappa*width values of token t (ape not yet added). Returns true and writes the pooled
// (pre-norm) entry [width] when t completes block t / ratio.
bool compressor_feed(CompressorState& s, const CompressorWeights& w, const float* A, const float* G, int64_t t,
                     float* pooled);
// RMSNorm, RoPE at the block's first position j*ratio (in place on `entry`).
void compressor_finish(const Config& c, const CompressorWeights& w, const Rope& rope, float* entry, int width,
                       int64_t block, int ratio);

}  // namespace whalebox::model
