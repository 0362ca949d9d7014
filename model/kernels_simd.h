#pragma once
// SIMD GEMV/GEMM bodies written once over a vector-traits type V (8 or 16 float lanes) and
// compiled twice: kernels_avx2.cc and kernels_avx512.cc include this after their
// `#pragma GCC target`. Only <immintrin.h> code here, no standard-library templates, so no
// ISA-specific copy of a shared inline function can leak into the rest of the program.
#include <immintrin.h>

#include "model/kernels.h"

namespace whalebox::model::simd {

// Scale number i of w (E8M0 byte e -> 2^(e-127), or F32).
inline float scale_value(const Weight& w, int64_t i) {
  if (w.scale_is_f32) return reinterpret_cast<const float*>(w.scale)[i];
  uint32_t u = uint32_t(w.scale[i]) << 23;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

// Decodes one row (scales folded in) to FP32 so a block of tokens can reuse it.
template <class V>
inline void decode_row(const Weight& w, int64_t r, float* out) {
  const uint8_t* row = w.data + size_t(r) * w.row_bytes();
  constexpr int W = V::W;
  const int64_t srow = ((w.row0 + r) / w.block_rows) * w.scale_cols;
  for (int64_t c = 0; c < w.cols; c += 32) {
    auto s = V::set1(w.scale ? scale_value(w, srow + c / w.block_cols) : 1.0f);
    switch (w.format) {
      case WeightFormat::F32:
        for (int k = 0; k < 32; k += W) V::store(out + c + k, V::mul(V::load(reinterpret_cast<const float*>(row) + c + k), s));
        break;
      case WeightFormat::BF16:
        for (int k = 0; k < 32; k += W) V::store(out + c + k, V::mul(V::bf16(reinterpret_cast<const uint16_t*>(row) + c + k), s));
        break;
      case WeightFormat::FP8:
        for (int k = 0; k < 32; k += W) V::store(out + c + k, V::mul(V::fp8(row + c + k), s));
        break;
      case WeightFormat::FP4:
        for (int k = 0; k < 16; k += W) {  // keeps the even/odd split of prepared x
          typename V::F lo, hi;
          V::fp4(row + c / 2 + k, lo, hi);
          V::store(out + c + k, V::mul(lo, s));
          V::store(out + c + 16 + k, V::mul(hi, s));
        }
        break;
    }
  }
}

// Four rows at a time: decode them once, then one pass over each token's x. GEMV is the n = 1
// case, so a token's result never depends on how many tokens share the call (incremental
// decoding gives bit-identical results to a whole-sequence prefill).
template <class V>
void gemm_rows(const Weight& w, const float* X, int64_t n, float* Y, int64_t r0, int64_t r1, float* buf) {
  constexpr int W = V::W;
  const int64_t K = w.cols;
  for (int64_t r = r0; r < r1; r += 4) {
    int nr = r1 - r < 4 ? int(r1 - r) : 4;
    for (int i = 0; i < nr; ++i) decode_row<V>(w, r + i, buf + i * K);
    for (int i = nr; i < 4; ++i)
      for (int64_t c = 0; c < K; ++c) buf[i * K + c] = 0;
    for (int64_t t = 0; t < n; ++t) {
      const float* x = X + t * K;
      auto a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
      for (int64_t c = 0; c < K; c += W) {
        auto xv = V::load(x + c);
        a0 = V::fma(V::load(buf + c), xv, a0);
        a1 = V::fma(V::load(buf + K + c), xv, a1);
        a2 = V::fma(V::load(buf + 2 * K + c), xv, a2);
        a3 = V::fma(V::load(buf + 3 * K + c), xv, a3);
      }
      float* y = Y + t * w.rows + r;
      y[0] = V::hsum(a0);
      if (nr > 1) y[1] = V::hsum(a1);
      if (nr > 2) y[2] = V::hsum(a2);
      if (nr > 3) y[3] = V::hsum(a3);
    }
  }
}

template <class V>
float dot(const float* a, const float* b, int64_t n) {
  constexpr int W = V::W;
  auto a0 = V::zero(), a1 = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a0 = V::fma(V::load(a + i), V::load(b + i), a0);
    a1 = V::fma(V::load(a + i + W), V::load(b + i + W), a1);
  }
  float s = V::hsum(V::add(a0, a1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <class V>
void axpy(float* y, float a, const float* x, int64_t n) {
  constexpr int W = V::W;
  auto av = V::set1(a);
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(y + i, V::fma(av, V::load(x + i), V::load(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

template <class V>
void fp8_decode(const uint8_t* in, int64_t n, float scale, float* out) {
  auto s = V::set1(scale);
  for (int64_t i = 0; i < n; i += V::W) V::store(out + i, V::mul(V::fp8(in + i), s));
}

}  // namespace whalebox::model::simd
