#include "model/compressor.h"

#include <cmath>
#include <cstring>

#include "model/ops.h"

namespace whalebox::model {

bool compressor_feed(CompressorState& s, const CompressorWeights& w, const float* A, const float* G, int64_t t,
                     float* pooled) {
  const int m = s.ratio, kw = s.kappa * s.width, width = s.width;
  const int in_block = int(t % m);
  const int row = s.kappa == 2 ? m + in_block : in_block;
  std::memcpy(&s.kv[size_t(row) * kw], A, sizeof(float) * size_t(kw));
  const float* ape = w.ape.data() + size_t(in_block) * kw;
  for (int e = 0; e < kw; ++e) s.score[size_t(row) * kw + e] = G[e] + ape[e];
  if (in_block != m - 1) return false;
  // Candidates per channel e: overlapping (kappa 2): previous block's rows [0,m) at channel e
  // and the current rows [m,2m) at channel width+e; otherwise the m rows at channel e.
  for (int e = 0; e < width; ++e) {
    float mx = -INFINITY;
    for (int r = 0; r < s.rows; ++r) {
      int ch = s.kappa == 2 && r >= m ? width + e : e;
      mx = std::max(mx, s.score[size_t(r) * kw + ch]);
    }
    float den = 0, num = 0;
    for (int r = 0; r < s.rows; ++r) {
      int ch = s.kappa == 2 && r >= m ? width + e : e;
      float sc = s.score[size_t(r) * kw + ch];
      if (sc == -INFINITY) continue;
      float p = std::exp(sc - mx);
      den += p;
      num += p * s.kv[size_t(r) * kw + ch];
    }
    pooled[e] = num / den;
  }
  if (s.kappa == 2) {  // the current block becomes the previous one
    std::memcpy(&s.kv[0], &s.kv[size_t(m) * kw], sizeof(float) * size_t(m) * kw);
    std::memcpy(&s.score[0], &s.score[size_t(m) * kw], sizeof(float) * size_t(m) * kw);
  }
  return true;
}

void compressor_finish(const Config& c, const CompressorWeights& w, const Rope& rope, float* entry, int width,
                       int64_t block, int ratio) {
  rms_norm(entry, w.norm.data(), entry, width, float(c.rms_norm_eps));
  rope.apply(entry, width, block * ratio);
}

}  // namespace whalebox::model
