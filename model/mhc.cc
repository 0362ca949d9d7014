#include "model/mhc.h"

#include <cmath>

#include "model/kernels.h"
#include "model/ops.h"
#include "model/thread_pool.h"

namespace whalebox::model {

namespace {

// mu = (fn . v) * rsqrt(mean(v^2) + eps) over the flattened streams v [hc*d].
std::vector<float> mix_logits(const Config& c, const HcWeights& w, const float* X) {
  const int64_t n = int64_t(c.hc_mult) * c.hidden_size;
  const int outs = int(w.base.size());
  float ss = dot(X, X, n);
  float rho = 1.0f / std::sqrt(ss / float(n) + float(c.rms_norm_eps));
  std::vector<float> mu(outs);
  // hc*(2+hc) dots over all streams: at decode this is the largest serial piece of a sublayer
  // (its weights are read once per token), so the outputs are split over the pool; inside a
  // prefill token loop it runs inline. Each dot is the same either way.
  parallel_for(outs, 4, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) mu[size_t(o)] = dot(w.fn.data() + o * n, X, n) * rho;
  });
  return mu;
}

}  // namespace

void hc_pre(const Config& c, const HcWeights& w, const float* X, float* u, HcMix& mix) {
  const int hc = c.hc_mult;
  const int64_t d = c.hidden_size;
  const float eps = float(c.hc_eps);
  auto mu = mix_logits(c, w, X);
  std::vector<float> pre(hc);
  mix.post.assign(hc, 0);
  mix.P.assign(hc * hc, 0);
  for (int j = 0; j < hc; ++j) {
    pre[j] = sigmoid(mu[j] * w.scale[0] + w.base[j]) + eps;
    mix.post[j] = 2.0f * sigmoid(mu[hc + j] * w.scale[1] + w.base[hc + j]);
  }
  // Sinkhorn: row softmax + eps, column normalise, then (iters - 1) x (row, column).
  float* P = mix.P.data();
  for (int j = 0; j < hc; ++j) {
    float mx = -INFINITY;
    for (int k = 0; k < hc; ++k) {
      P[j * hc + k] = mu[2 * hc + j * hc + k] * w.scale[2] + w.base[2 * hc + j * hc + k];
      mx = std::max(mx, P[j * hc + k]);
    }
    float s = 0;
    for (int k = 0; k < hc; ++k) s += (P[j * hc + k] = std::exp(P[j * hc + k] - mx));
    for (int k = 0; k < hc; ++k) P[j * hc + k] = P[j * hc + k] / s + eps;
  }
  auto col_norm = [&] {
    for (int k = 0; k < hc; ++k) {
      float s = 0;
      for (int j = 0; j < hc; ++j) s += P[j * hc + k];
      for (int j = 0; j < hc; ++j) P[j * hc + k] /= s + eps;
    }
  };
  auto row_norm = [&] {
    for (int j = 0; j < hc; ++j) {
      float s = 0;
      for (int k = 0; k < hc; ++k) s += P[j * hc + k];
      for (int k = 0; k < hc; ++k) P[j * hc + k] /= s + eps;
    }
  };
  col_norm();
  for (int it = 1; it < c.hc_sinkhorn_iters; ++it) {
    row_norm();
    col_norm();
  }
  for (int64_t i = 0; i < d; ++i) {
    float s = 0;
    for (int j = 0; j < hc; ++j) s += pre[j] * X[j * d + i];
    u[i] = s;
  }
}

void hc_post(const Config& c, const HcMix& mix, const float* o, float* X) {
  const int hc = c.hc_mult;
  const int64_t d = c.hidden_size;
  std::vector<float> old(X, X + hc * d);
  for (int k = 0; k < hc; ++k) {
    float* xk = X + k * d;
    for (int64_t i = 0; i < d; ++i) xk[i] = mix.post[k] * o[i];
    for (int j = 0; j < hc; ++j) axpy(xk, mix.P[j * hc + k], old.data() + j * d, d);
  }
}

void hc_head(const Config& c, const HcWeights& w, const float* X, float* z) {
  const int hc = c.hc_mult;
  const int64_t d = c.hidden_size;
  auto mu = mix_logits(c, w, X);
  for (int64_t i = 0; i < d; ++i) z[i] = 0;
  for (int j = 0; j < hc; ++j) {
    float pre = sigmoid(mu[j] * w.scale[0] + w.base[j]) + float(c.hc_eps);
    axpy(z, pre, X + j * d, d);
  }
}

}  // namespace whalebox::model
