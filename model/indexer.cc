#include "model/indexer.h"

#include <algorithm>
#include <cstring>
#include <functional>

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
    thread_local std::vector<float> kbuf, dots;
    kbuf.resize(size_t(kBlock * dim));
    dots.resize(size_t(kBlock * heads));
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
  std::vector<int32_t> idx = topk_indices(scores, c.index_topk);
  if (scores_out) *scores_out = std::move(scores);
  return idx;
}

std::vector<int32_t> topk_indices(const std::vector<float>& scores, int64_t k) {
  const int64_t n = int64_t(scores.size());
  std::vector<int32_t> idx;
  if (k <= 0) return idx;
  if (k >= n) {
    idx.resize(size_t(n));
    for (int64_t j = 0; j < n; ++j) idx[size_t(j)] = int32_t(j);
    return idx;
  }
  // The k-th highest value: a histogram of the top 12 bits of order-preserving keys finds its
  // bucket in one pass, then only that bucket is searched. Then every index above it and the
  // lowest-index ties at it.
  auto order_key = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
  };
  std::vector<uint32_t> hist(4096, 0);
  for (float s : scores) ++hist[order_key(s) >> 20];
  int64_t above_bucket = 0;
  int bucket = 4095;
  for (; bucket > 0 && above_bucket + hist[size_t(bucket)] < k; --bucket) above_bucket += hist[size_t(bucket)];
  std::vector<float> v;
  v.reserve(hist[size_t(bucket)]);
  for (float s : scores)
    if (int(order_key(s) >> 20) == bucket) v.push_back(s);
  const int64_t r = k - above_bucket - 1;  // rank of the k-th value within its bucket
  std::nth_element(v.begin(), v.begin() + r, v.end(), std::greater<float>());
  const float kth = v[size_t(r)];
  int64_t above = 0;
  for (float s : scores) above += s > kth;
  int64_t ties = k - above;
  idx.reserve(size_t(k));
  for (int64_t j = 0; j < n; ++j)
    if (scores[size_t(j)] > kth || (scores[size_t(j)] == kth && ties-- > 0)) idx.push_back(int32_t(j));
  return idx;
}

void indexer_scores_fp4_scalar(const Config& c, const PagedEntries& keys, int64_t n, const uint8_t* q,
                               const float* head_w, float* scores) {
  const int dim = c.index_head_dim, heads = c.index_n_heads;
  IndexKeyFormat fmt(c, KvLayout::Production);
  std::vector<float> qf(size_t(heads * dim)), kf(static_cast<size_t>(dim));
  for (int h = 0; h < heads; ++h) fmt.decode(q + h * fmt.bytes, &qf[size_t(h * dim)]);
  for (int64_t j = 0; j < n; ++j) {
    fmt.decode(keys.at(j), kf.data());
    float s = 0;
    for (int h = 0; h < heads; ++h) {
      float total = 0;
      for (int b = 0; b < dim; b += 32) {
        float d = 0;  // exact: products of FP4 values under two power-of-two scales
        for (int i = b; i < b + 32; ++i) d += qf[size_t(h * dim + i)] * kf[size_t(i)];
        total += d;
      }
      s += head_w[h] * std::max(total, 0.0f);
    }
    scores[size_t(j)] = s;
  }
}

std::vector<int32_t> indexer_topk_fp4(const Config& c, const PagedEntries& keys, int64_t n, const float* q,
                                      const float* head_w, std::vector<float>* scores_out) {
  IndexKeyFormat fmt(c, KvLayout::Production);
  std::vector<uint8_t> qb(size_t(c.index_n_heads * fmt.bytes));
  for (int h = 0; h < c.index_n_heads; ++h) fmt.encode(q + size_t(h) * c.index_head_dim, &qb[size_t(h * fmt.bytes)]);
  std::vector<float> scores(static_cast<size_t>(n));
  if (!indexer_scores_int8(c, keys, n, qb.data(), head_w, scores.data()))
    indexer_scores_fp4_scalar(c, keys, n, qb.data(), head_w, scores.data());
  std::vector<int32_t> idx = topk_indices(scores, c.index_topk);
  if (scores_out) *scores_out = std::move(scores);
  return idx;
}

}  // namespace whalebox::model
