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
  rope.apply(q, dim, t, false, c.index_n_heads, dim);
  for (int h = 0; h < c.index_n_heads; ++h) {
    float* qh = q + size_t(h) * dim;
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

namespace {

// Exact top-k positions in ascending order (ties: lower positions). A histogram of the top 12
// bits of order-preserving keys finds the k-th value's bucket; a second pass collects, in
// order, the positions of the buckets above it (all chosen) and of its own bucket, the only
// values then searched.
std::vector<int32_t> topk_exact(const float* scores, int64_t n, int64_t k) {
  auto bucket_of = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return int((u & 0x80000000u ? ~u : u | 0x80000000u) >> 20);
  };
  std::vector<uint32_t> hist(4096, 0);
  for (int64_t j = 0; j < n; ++j) ++hist[size_t(bucket_of(scores[j]))];
  int64_t above_bucket = 0;
  int bucket = 4095;
  for (; bucket > 0 && above_bucket + hist[size_t(bucket)] < k; --bucket) above_bucket += hist[size_t(bucket)];
  std::vector<int32_t> above, members;
  above.reserve(size_t(above_bucket)), members.reserve(hist[size_t(bucket)]);
  for (int64_t j = 0; j < n; ++j) {
    const int b = bucket_of(scores[j]);
    if (b > bucket) above.push_back(int32_t(j));
    else if (b == bucket) members.push_back(int32_t(j));
  }
  std::vector<float> v;
  v.reserve(members.size());
  for (int32_t j : members) v.push_back(scores[j]);
  const int64_t r = k - above_bucket - 1;  // rank of the k-th value within its bucket
  std::nth_element(v.begin(), v.begin() + r, v.end(), std::greater<float>());
  const float kth = v[size_t(r)];
  // The bucket's members above the k-th value, then its lowest-position ties up to k.
  int64_t ties = k - above_bucket;
  for (int32_t j : members) ties -= scores[j] > kth;
  std::vector<int32_t> in_bucket;
  in_bucket.reserve(size_t(k - above_bucket));
  for (int32_t j : members)
    if (scores[j] > kth || (scores[j] == kth && ties-- > 0)) in_bucket.push_back(j);
  std::vector<int32_t> idx(static_cast<size_t>(k));
  std::merge(above.begin(), above.end(), in_bucket.begin(), in_bucket.end(), idx.begin());
  return idx;
}

}  // namespace

std::vector<int32_t> topk_indices(const std::vector<float>& scores, int64_t k) {
  const int64_t n = int64_t(scores.size());
  std::vector<int32_t> idx;
  if (k <= 0) return idx;
  if (k >= n) {
    idx.resize(size_t(n));
    for (int64_t j = 0; j < n; ++j) idx[size_t(j)] = int32_t(j);
    return idx;
  }
  // Long lists (a CSA layer scores n/4 keys: 262,144 at 1M tokens): a strided sample of 4,096
  // scores gives a threshold that about 2k + n/512 scores reach; one cheap pass collects them,
  // in order, and the exact selection runs on those alone. Every score at or above the k-th
  // is among them whenever at least k are, so the result is the same; a sample that misleads
  // (fewer than k reach it) falls back to the whole list.
  constexpr int64_t kSample = 4096;
  const int64_t stride = n / kSample, rank = 2 * k * kSample / n + 8;
  if (stride >= 16 && rank < kSample) {
    std::vector<float> sample(static_cast<size_t>(kSample));
    for (int64_t i = 0; i < kSample; ++i) sample[size_t(i)] = scores[size_t(i * stride)];
    std::nth_element(sample.begin(), sample.begin() + rank, sample.end(), std::greater<float>());
    const float threshold = sample[size_t(rank)];
    std::vector<int32_t> at;
    at.reserve(size_t(4 * k + 8 * stride));
    for (int64_t j = 0; j < n; ++j)
      if (scores[size_t(j)] >= threshold) at.push_back(int32_t(j));
    if (int64_t(at.size()) >= k) {
      std::vector<float> reached(at.size());
      for (size_t i = 0; i < at.size(); ++i) reached[i] = scores[size_t(at[i])];
      idx = topk_exact(reached.data(), int64_t(reached.size()), k);
      for (auto& j : idx) j = at[size_t(j)];
      return idx;
    }
  }
  return topk_exact(scores.data(), n, k);
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
