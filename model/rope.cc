#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace whalebox::model {

Rope::Rope(const Config& c, int ratio) : rope_dim_(c.qk_rope_head_dim) {
  const int r = rope_dim_;
  const double base = ratio == 0 ? c.rope_theta : c.compress_rope_theta;
  freqs_.resize(r / 2);
  for (int i = 0; i < r / 2; ++i) freqs_[i] = float(1.0 / std::pow(base, double(2 * i) / r));
  if (ratio == 0 || c.rope_original_max_position <= 0 || c.rope_factor == 1.0) return;
  auto corr = [&](double rot) {
    return r * std::log(double(c.rope_original_max_position) / (rot * 2 * M_PI)) / (2 * std::log(base));
  };
  double low = std::max(std::floor(corr(c.beta_fast)), 0.0);
  double high = std::min(std::ceil(corr(c.beta_slow)), double(r - 1));
  if (low == high) high += 0.001;
  for (int i = 0; i < r / 2; ++i) {
    float ramp = std::clamp(float((i - low) / (high - low)), 0.0f, 1.0f);
    freqs_[i] = freqs_[i] * (1 - ramp) + freqs_[i] / float(c.rope_factor) * ramp;
  }
}

void Rope::apply(float* x, int width, int64_t t, bool inverse, int count, int64_t stride) const {
  const int half = rope_dim_ / 2;
  thread_local std::vector<float> cs, sn;
  cs.resize(size_t(half)), sn.resize(size_t(half));
  const float ft = float(t);
  for (int i = 0; i < half; ++i) {
    float a = ft * freqs_[size_t(i)];
    cs[size_t(i)] = std::cos(a);
    sn[size_t(i)] = inverse ? -std::sin(a) : std::sin(a);
  }
  for (int v = 0; v < count; ++v) {
    float* p = x + v * stride + width - rope_dim_;
    for (int i = 0; i < half; ++i) {
      float x0 = p[2 * i], x1 = p[2 * i + 1];
      p[2 * i] = x0 * cs[size_t(i)] - x1 * sn[size_t(i)];
      p[2 * i + 1] = x0 * sn[size_t(i)] + x1 * cs[size_t(i)];
    }
  }
}

}  // namespace whalebox::model
