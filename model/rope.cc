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

void Rope::apply(float* x, int width, int64_t t, bool inverse) const {
  float* p = x + width - rope_dim_;
  const float ft = float(t);
  for (int i = 0; i < rope_dim_ / 2; ++i) {
    float a = ft * freqs_[i];
    float cs = std::cos(a), sn = inverse ? -std::sin(a) : std::sin(a);
    float x0 = p[2 * i], x1 = p[2 * i + 1];
    p[2 * i] = x0 * cs - x1 * sn;
    p[2 * i + 1] = x0 * sn + x1 * cs;
  }
}

}  // namespace whalebox::model
