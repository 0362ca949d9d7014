#include "model/indexer.h"

#include <algorithm>

#include "model/kernels.h"
#include "model/quant.h"
#include "model/thread_pool.h"

namespace whalebox::model {

void indexer_prepare_query(const Config& c, const Rope& rope, float* q, int64_t t, bool fp4) {
  const int dim = c.index_head_dim;
  for (int h = 0; h < c.index_n_heads; ++h) {
    float* qh = q + size_t(h) * dim;
    rope.apply(qh, dim, t);
    hadamard(qh, dim);  // keys are stored rotated; (Hq).(Hk) = q.k
    if (fp4) fp4_simulate(qh, dim);
  }
}

std::vector<int32_t> indexer_topk(const Config& c, const PagedEntries& keys, int64_t n, const float* q,
                                  const float* head_w, std::vector<float>* scores_out) {
  const int dim = c.index_head_dim, heads = c.index_n_heads;
  IndexKeyFormat fmt(c);
  std::vector<float> scores(static_cast<size_t>(n));
  parallel_for(n, 64, [&](int64_t j0, int64_t j1) {
    std::vector<float> k(static_cast<size_t>(dim));
    for (int64_t j = j0; j < j1; ++j) {
      fmt.decode(keys.at(j), k.data());
      float s = 0;
      for (int h = 0; h < heads; ++h) {
        float d = dot(q + size_t(h) * dim, k.data(), dim);
        if (d > 0) s += head_w[h] * d;
      }
      scores[size_t(j)] = s;
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
