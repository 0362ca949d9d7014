#pragma once
// The MoE feed-forward of every V4 block (spec §10): sqrt-softplus gate with hash routing
// (token-id table) or bias-adjusted top-k, routed SwiGLU experts with the clamp and the routing
// weight applied before W2, plus the shared expert.
#include <cstdint>

#include "model/kernels.h"
#include "model/weights.h"

namespace whalebox::model {

// x: [T, d] normalised inputs; tokens: the T token ids (hash routing); y: [T, d].
void moe_forward(const Config& c, const BlockWeights& b, const float* x, const int32_t* tokens, int64_t T, float* y,
                 Inputs in = Inputs::F32);

}  // namespace whalebox::model
