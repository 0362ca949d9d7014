#pragma once
// SIMD GEMV/GEMM bodies written once over a vector-traits type V (8 or 16 float lanes) and
// compiled twice: kernels_avx2.cc and kernels_avx512.cc include this after their
// `#pragma GCC target`. Only <immintrin.h> code here, no standard-library templates, so no
// ISA-specific copy of a shared inline function can leak into the rest of the program. For the
// same reason model/quant.h (e8m0_to_float) is included by those files before the pragma.
#include <immintrin.h>

#include "model/kernels.h"
#include "model/quant.h"

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

// Attention on a decoded chunk of n keys [n, hd]: sc[h * n + u] = scale * q_h . k_u for H heads.
// Two keys x four heads per pass over the dimensions; hd a multiple of W.
template <class V>
void attn_scores(const float* q, const float* k, int64_t n, int H, int hd, float scale, float* sc) {
  constexpr int W = V::W;
  int64_t u = 0;
  for (; u + 2 <= n; u += 2) {
    const float* k0 = k + u * hd;
    const float* k1 = k0 + hd;
    int h = 0;
    for (; h + 4 <= H; h += 4) {
      const float* q0 = q + h * hd;
      auto a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
      auto b0 = V::zero(), b1 = V::zero(), b2 = V::zero(), b3 = V::zero();
      for (int d = 0; d < hd; d += W) {
        auto x0 = V::load(k0 + d), x1 = V::load(k1 + d);
        auto y0 = V::load(q0 + d), y1 = V::load(q0 + hd + d), y2 = V::load(q0 + 2 * hd + d), y3 = V::load(q0 + 3 * hd + d);
        a0 = V::fma(y0, x0, a0), a1 = V::fma(y1, x0, a1), a2 = V::fma(y2, x0, a2), a3 = V::fma(y3, x0, a3);
        b0 = V::fma(y0, x1, b0), b1 = V::fma(y1, x1, b1), b2 = V::fma(y2, x1, b2), b3 = V::fma(y3, x1, b3);
      }
      sc[h * n + u] = V::hsum(a0) * scale, sc[(h + 1) * n + u] = V::hsum(a1) * scale;
      sc[(h + 2) * n + u] = V::hsum(a2) * scale, sc[(h + 3) * n + u] = V::hsum(a3) * scale;
      sc[h * n + u + 1] = V::hsum(b0) * scale, sc[(h + 1) * n + u + 1] = V::hsum(b1) * scale;
      sc[(h + 2) * n + u + 1] = V::hsum(b2) * scale, sc[(h + 3) * n + u + 1] = V::hsum(b3) * scale;
    }
    for (; h < H; ++h) {
      sc[h * n + u] = dot<V>(q + h * hd, k0, hd) * scale;
      sc[h * n + u + 1] = dot<V>(q + h * hd, k1, hd) * scale;
    }
  }
  for (; u < n; ++u)
    for (int h = 0; h < H; ++h) sc[h * n + u] = dot<V>(q + h * hd, k + u * hd, hd) * scale;
}

// acc[h, :] += sum_u p[h * n + u] * k_u over a chunk of n keys: two heads x four vectors of
// dimensions held in registers across the keys.
template <class V>
void attn_pv(const float* p, const float* k, int64_t n, int H, int hd, float* acc) {
  constexpr int W = V::W;
  int h = 0;
  for (; h + 2 <= H; h += 2) {
    float* o0 = acc + h * hd;
    float* o1 = o0 + hd;
    const float* p0 = p + h * n;
    const float* p1 = p0 + n;
    int d = 0;
    for (; d + 4 * W <= hd; d += 4 * W) {
      auto a0 = V::load(o0 + d), a1 = V::load(o0 + d + W), a2 = V::load(o0 + d + 2 * W), a3 = V::load(o0 + d + 3 * W);
      auto b0 = V::load(o1 + d), b1 = V::load(o1 + d + W), b2 = V::load(o1 + d + 2 * W), b3 = V::load(o1 + d + 3 * W);
      for (int64_t u = 0; u < n; ++u) {
        const float* ku = k + u * hd + d;
        auto x0 = V::load(ku), x1 = V::load(ku + W), x2 = V::load(ku + 2 * W), x3 = V::load(ku + 3 * W);
        auto s0 = V::set1(p0[u]), s1 = V::set1(p1[u]);
        a0 = V::fma(s0, x0, a0), a1 = V::fma(s0, x1, a1), a2 = V::fma(s0, x2, a2), a3 = V::fma(s0, x3, a3);
        b0 = V::fma(s1, x0, b0), b1 = V::fma(s1, x1, b1), b2 = V::fma(s1, x2, b2), b3 = V::fma(s1, x3, b3);
      }
      V::store(o0 + d, a0), V::store(o0 + d + W, a1), V::store(o0 + d + 2 * W, a2), V::store(o0 + d + 3 * W, a3);
      V::store(o1 + d, b0), V::store(o1 + d + W, b1), V::store(o1 + d + 2 * W, b2), V::store(o1 + d + 3 * W, b3);
    }
    for (; d < hd; d += W) {
      auto a = V::load(o0 + d), b = V::load(o1 + d);
      for (int64_t u = 0; u < n; ++u) {
        auto x = V::load(k + u * hd + d);
        a = V::fma(V::set1(p0[u]), x, a), b = V::fma(V::set1(p1[u]), x, b);
      }
      V::store(o0 + d, a), V::store(o1 + d, b);
    }
  }
  for (; h < H; ++h)
    for (int64_t u = 0; u < n; ++u) axpy<V>(acc + h * hd, p[h * n + u], k + u * hd, hd);
}

template <class V>
void fp8_decode(const uint8_t* in, int64_t n, float scale, float* out) {
  auto s = V::set1(scale);
  for (int64_t i = 0; i < n; i += V::W) V::store(out + i, V::mul(V::fp8(in + i), s));
}

template <class V>
void fp8_decode_blocks64(const uint8_t* in, int64_t n, const uint8_t* scales, float* out) {
  for (int64_t b = 0; b < n; b += 64) {
    fp8_decode<V>(in + b, 64, e8m0_to_float(scales[b / 64]), out + b);
  }
}

}  // namespace whalebox::model::simd
