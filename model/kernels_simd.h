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

// 32 consecutive weights of one row at column c times x (FP4: x prepared even/odd per block).
template <class V>
inline void accumulate32(const Weight& w, const uint8_t* row, int64_t c, const float* x, typename V::F& a0,
                         typename V::F& a1) {
  constexpr int W = V::W;
  switch (w.format) {
    case WeightFormat::F32: {
      const float* p = reinterpret_cast<const float*>(row) + c;
      for (int k = 0; k < 32; k += 2 * W) {
        a0 = V::fma(V::load(p + k), V::load(x + c + k), a0);
        a1 = V::fma(V::load(p + k + W), V::load(x + c + k + W), a1);
      }
      break;
    }
    case WeightFormat::BF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c;
      for (int k = 0; k < 32; k += 2 * W) {
        a0 = V::fma(V::bf16(p + k), V::load(x + c + k), a0);
        a1 = V::fma(V::bf16(p + k + W), V::load(x + c + k + W), a1);
      }
      break;
    }
    case WeightFormat::FP8: {
      const uint8_t* p = row + c;
      for (int k = 0; k < 32; k += 2 * W) {
        a0 = V::fma(V::fp8(p + k), V::load(x + c + k), a0);
        a1 = V::fma(V::fp8(p + k + W), V::load(x + c + k + W), a1);
      }
      break;
    }
    case WeightFormat::FP4: {
      const uint8_t* p = row + c / 2;
      for (int k = 0; k < 16; k += W) {
        typename V::F lo, hi;
        V::fp4(p + k, lo, hi);
        a0 = V::fma(lo, V::load(x + c + k), a0);
        a1 = V::fma(hi, V::load(x + c + 16 + k), a1);
      }
      break;
    }
  }
}

template <class V>
inline float row_dot(const Weight& w, int64_t r, const float* x) {
  const uint8_t* row = w.data + size_t(r) * w.row_bytes();
  if (!w.scale) {
    auto a0 = V::zero(), a1 = V::zero();
    for (int64_t c = 0; c < w.cols; c += 32) accumulate32<V>(w, row, c, x, a0, a1);
    return V::hsum(V::add(a0, a1));
  }
  auto acc = V::zero();
  const int64_t srow = (r / w.block_rows) * w.scale_cols;
  int64_t bi = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += w.block_cols, ++bi) {
    int64_t c1 = c0 + w.block_cols < w.cols ? c0 + w.block_cols : w.cols;
    auto a0 = V::zero(), a1 = V::zero();
    for (int64_t c = c0; c < c1; c += 32) accumulate32<V>(w, row, c, x, a0, a1);
    acc = V::fma(V::add(a0, a1), V::set1(scale_value(w, srow + bi)), acc);
  }
  return V::hsum(acc);
}

template <class V>
void gemv_rows(const Weight& w, const float* x, float* y, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) y[r] = row_dot<V>(w, r, x);
}

// Decodes one row (scales folded in) to FP32 so a block of tokens can reuse it.
template <class V>
inline void decode_row(const Weight& w, int64_t r, float* out) {
  const uint8_t* row = w.data + size_t(r) * w.row_bytes();
  constexpr int W = V::W;
  const int64_t srow = (r / w.block_rows) * w.scale_cols;
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

// Four rows at a time: decode them once, then one pass over each token's x.
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

}  // namespace whalebox::model::simd
