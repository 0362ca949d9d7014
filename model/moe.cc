#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "model/kernels.h"
#include "model/ops.h"
#include "model/thread_pool.h"

namespace whalebox::model {

namespace {

// Experts on their tokens: out_e[n_e, d] = W2 (silu(min(W1 x, L)) * clamp(W3 x, -L, L) * weight),
// all W1/W3 products as one pool job and all W2 products as another.
struct ExpertRun {
  const ExpertWeights* e;
  const float* x;       // [n, d]
  int64_t n;
  const float* weight;  // per token, or null
  float* out;           // [n, d]
  float* g = nullptr;   // [n, I] each, set by experts_forward
  float* v = nullptr;
};

void experts_forward(const Config& c, std::vector<ExpertRun>& runs, Inputs in) {
  const int64_t I = c.moe_intermediate_size;
  const float L = float(c.swiglu_limit);
  thread_local std::vector<float> gv;  // reused: fresh pages per call would fault (prefill)
  size_t total = 0;
  for (auto& r : runs) total += size_t(2 * r.n * I);
  gv.resize(total);
  std::vector<GemmCall> calls;
  float* at = gv.data();
  for (auto& r : runs) {
    r.g = at, r.v = at + r.n * I, at += 2 * r.n * I;
    calls.push_back({&r.e->w1, r.x, r.n, r.g});
    calls.push_back({&r.e->w3, r.x, r.n, r.v});
  }
  gemm_batch(calls.data(), calls.size(), in);
  calls.clear();
  for (auto& r : runs) {
    // Rows are independent: over the pool in prefill (a thousand tokens' SwiGLU is otherwise
    // serial work between two parallel GEMMs).
    parallel_for(r.n, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t i = 0; i < I; ++i) {
          float gi = r.g[size_t(t * I + i)], vi = r.v[size_t(t * I + i)];
          if (L > 0) {
            gi = std::min(gi, L);
            vi = std::clamp(vi, -L, L);
          }
          r.g[size_t(t * I + i)] = silu(gi) * vi * (r.weight ? r.weight[t] : 1.0f);
        }
    });
    calls.push_back({&r.e->w2, r.g, r.n, r.out});
  }
  gemm_batch(calls.data(), calls.size(), in);
}

}  // namespace

void moe_forward(const Config& c, const BlockWeights& b, const float* x, const int32_t* tokens, int64_t T, float* y,
                 Inputs in) {
  const int64_t d = c.hidden_size, E = c.n_routed_experts, k = c.num_experts_per_tok;
  std::vector<float> logits(size_t(T * E));
  gemm(b.gate, x, T, logits.data());
  // Routing: per token k expert ids and weights.
  std::vector<int32_t> idx(size_t(T * k));
  std::vector<float> wts(size_t(T * k));
  std::vector<float> s(static_cast<size_t>(E));
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    const float* l = &logits[size_t(t * E)];
    for (int64_t e = 0; e < E; ++e) {
      if (c.scoring_func == "sqrtsoftplus") s[size_t(e)] = std::sqrt(softplus(l[e]));
      else if (c.scoring_func == "sigmoid") s[size_t(e)] = sigmoid(l[e]);
      else s[size_t(e)] = l[e];
    }
    if (c.scoring_func == "softmax") {
      float mx = *std::max_element(s.begin(), s.end()), sum = 0;
      for (auto& v : s) sum += (v = std::exp(v - mx));
      for (auto& v : s) v /= sum;
    }
    int32_t* ti = &idx[size_t(t * k)];
    if (b.hashed) {
      int32_t tok = tokens[t];
      if (tok < 0 || tok >= c.vocab_size) tok = 0;
      std::memcpy(ti, &b.tid2eid[size_t(tok) * size_t(k)], sizeof(int32_t) * size_t(k));
    } else {
      std::iota(order.begin(), order.end(), 0);
      auto key = [&](int32_t e) { return s[size_t(e)] + (b.gate_bias.empty() ? 0.0f : b.gate_bias[size_t(e)]); };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t bb) {
        float ka = key(a), kb = key(bb);
        return ka > kb || (ka == kb && a < bb);
      });
      std::copy(order.begin(), order.begin() + k, ti);
    }
    float sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += s[size_t(ti[j])];
    for (int64_t j = 0; j < k; ++j)
      wts[size_t(t * k + j)] = (c.norm_topk_prob ? s[size_t(ti[j])] / sum : s[size_t(ti[j])]) * float(c.routed_scaling_factor);
  }
  // Shared expert over all tokens, then each routed expert over the tokens that chose it.
  std::vector<std::vector<std::pair<int32_t, float>>> by_expert(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) by_expert[size_t(idx[size_t(t * k + j)])].push_back({int32_t(t), wts[size_t(t * k + j)]});
  std::vector<ExpertRun> runs;
  runs.reserve(size_t(E) + 1);
  if (b.shared) runs.push_back({&*b.shared, x, T, nullptr, y});
  else std::fill(y, y + T * d, 0.0f);
  // The routed experts' tokens gathered one expert after another (row j of all T * k).
  thread_local std::vector<float> xs, outs;  // reused: fresh pages per call would fault (prefill)
  xs.resize(size_t(T * k * d));
  outs.resize(size_t(T * k * d));
  std::vector<float> ws(size_t(T * k));
  std::vector<int32_t> token_of(size_t(T * k));          // row j's token
  std::vector<int32_t> rows_of(size_t(T * k)), filled(size_t(T), 0);  // token t's rows, by expert
  int64_t j = 0;
  for (int64_t e = 0; e < E; ++e) {
    const auto& list = by_expert[size_t(e)];
    if (list.empty()) continue;
    const int64_t j0 = j;
    for (const auto& [t, wt] : list) {
      token_of[size_t(j)] = t;
      rows_of[size_t(t * k + filled[size_t(t)]++)] = int32_t(j);
      ws[size_t(j++)] = wt;
    }
    runs.push_back({&b.experts[size_t(e)], &xs[size_t(j0 * d)], j - j0, &ws[size_t(j0)], &outs[size_t(j0 * d)]});
  }
  // The buffers by pointer: inside a pool job the thread_local names are the worker's own.
  float* const xs_at = xs.data();
  const float* const outs_at = outs.data();
  parallel_for(j, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memcpy(xs_at + r * d, x + int64_t(token_of[size_t(r)]) * d, sizeof(float) * size_t(d));
  });
  experts_forward(c, runs, in);
  // Each token adds its experts' outputs in expert order, as one token alone would.
  parallel_for(T, 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int32_t slot = 0; slot < filled[size_t(t)]; ++slot)
        axpy(y + t * d, 1.0f, outs_at + int64_t(rows_of[size_t(t * k + slot)]) * d, d);
  });
}

}  // namespace whalebox::model
