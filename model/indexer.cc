#include "model/indexer.h"

#include <algorithm>

#include "model/kernels.h"
#include "model/quant.h"
#include "model/thread_pool.h"

namespace whalebox::model {

void indexer_prepare_query(const Config& c, const Rope& rope, float* q, int64_t t, bool rotate, bool fp4) {
  const int dim = c.index_head_dim;
  for (int h = 0; h < c.index_n_heads; ++h) {
    float* qh = q + size_t(h) * dim;
    rope.apply(qh, dim, t);
    if (rotate) hadamard(qh, dim);  // keys are stored rotated; (Hq).(Hk) = q.k
    if (fp4) fp4_simulate(qh, dim);
  }
}

std::vector<int32_t> indexer_topk(const Config& c, KvLayout layout, const PagedEntries& keys, int64_t n, const float* q,
                                  const float* head_w, std::vector<float>* scores_out) {
  const int dim = c.index_head_dim, heads = c.index_n_heads;
  IndexKeyFormat fmt(c, layout);
  std::vector<float> scores(static_cast<size_t>(n));
  // Blocks of keys: decode to FP32, then all heads' dot products as one small GEMM
  // (keys as the weight rows, the head queries as the tokens).
  constexpr int64_t kBlock = 256;
  parallel_for((n + kBlock - 1) / kBlock, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> kbuf(static_cast<size_t>(kBlock * dim)), dots(static_cast<size_t>(kBlock * heads));
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t j0 = blk * kBlock, nb = std::min(kBlock, n - j0);
      for (int64_t j = 0; j < nb; ++j) fmt.decode(keys.at(j0 + j), &kbuf[size_t(j * dim)]);
      Weight kw;
      kw.format = WeightFormat::F32;
      kw.rows = nb;
      kw.cols = dim;
      kw.data = reinterpret_cast<const uint8_t*>(kbuf.data());
      gemm(kw, q, heads, dots.data());  // dots[h * nb + j] = q_h . K_j
      for (int64_t j = 0; j < nb; ++j) {
        float s = 0;
        for (int h = 0; h < heads; ++h) {
          float d = dots[size_t(h * nb + j)];
          if (d > 0) s += head_w[h] * d;
        }
        scores[size_t(j0 + j)] = s;
      }
    }
  });
  const int64_t k = std::min<int64_t>(c.index_topk, n);
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) idx[size_t(j)] = int32_t(j);
  if (k < n) {
    // Higher score first; equal scores keep the lower index (deterministic).
    std::nth_element(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
      return scores[size_t(a)] > scores[size_t(b)] || (scores[size_t(a)] == scores[size_t(b)] && a < b);
    });
    idx.resize(size_t(k));
    std::sort(idx.begin(), idx.end());
  }
  if (scores_out) *scores_out = std::move(scores);
  return idx;
}

}  // namespace whalebox::model
