#pragma once
// Manifold-constrained hyper-connections (spec §4): hc_mult residual streams per token, mixed
// before each sublayer (pre weights), and after it (post weights + Sinkhorn-normalised mixing).
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace whalebox::model {

struct HcMix {
  std::vector<float> post;  // [hc]
  std::vector<float> P;     // [hc, hc] indexed [source, destination]
};

// X: [hc, d] streams of one token. Writes the sublayer input u [d] and the mix for hc_post.
void hc_pre(const Config& c, const HcWeights& w, const float* X, float* u, HcMix& mix);
// X <- post_k * o + sum_j P[j][k] X_j.
void hc_post(const Config& c, const HcMix& mix, const float* o, float* X);
// Final head: z = sum_j pre_j X_j with its own weights (no Sinkhorn).
void hc_head(const Config& c, const HcWeights& w, const float* X, float* z);

}  // namespace whalebox::model
