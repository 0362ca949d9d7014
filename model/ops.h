#pragma once
// Small FP32 vector operations shared by the layers.
#include <cstdint>
#include <vector>

namespace whalebox::model {

// out = x * rsqrt(mean(x^2) + eps) * w (w may be null: weight-free normalisation). out may be x.
void rms_norm(const float* x, const float* w, float* out, int64_t n, float eps);
// Row-major [n, ...] input of `tokens` rows.
void rms_norm_rows(const float* x, const float* w, float* out, int64_t rows, int64_t n, float eps);
inline float silu(float x) { return x / (1.0f + __builtin_expf(-x)); }
inline float sigmoid(float x) { return 1.0f / (1.0f + __builtin_expf(-x)); }
// log(1 + e^x) without overflow.
float softplus(float x);

}  // namespace whalebox::model
