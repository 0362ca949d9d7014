#pragma once
// SIMD GEMV/GEMM bodies written once over a vector-traits type V (8 or 16 float lanes) and
// compiled twice: kernels_avx2.cc and kernels_avx512.cc include this after their
// `#pragma GCC target`. Only <immintrin.h> code here, no standard-library templates, and all of
// it in an unnamed namespace (each file gets its own copy), so no ISA-specific copy of a shared
// inline function can be picked by the linker for the rest of the program. For the same reason
// model/quant.h (e8m0_to_float) is included by those files before the pragma.
#include <immintrin.h>

#include "model/kernels.h"
#include "model/quant.h"

namespace whalebox::model::simd {
namespace {

// Scale number i of w (E8M0 byte e -> 2^(e-127), or F32).
inline float scale_value(const Weight& w, int64_t i) {
  if (w.scale_is_f32) return reinterpret_cast<const float*>(w.scale)[i];
  uint32_t u = uint32_t(w.scale[i]) << 23;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

// The scales of row r along its 32-column chunks, times `extra` (a power of two: folded
// decodings). Walks the scale row so there is no integer division per chunk (one costs more than
// decoding the chunk). block_cols is a multiple of 32 (simd_ok).
struct ScaleWalk {
  const Weight& w;
  float extra;
  int64_t at = 0;
  int per_block = 1, left = 1;

  ScaleWalk(const Weight& w, int64_t r, float extra) : w(w), extra(extra) {
    if (!w.scale) return;
    at = ((w.row0 + r) / w.block_rows) * w.scale_cols;
    per_block = left = w.block_cols / 32;
  }
  // The scale of the next chunk.
  float next() {
    if (!w.scale) return extra;
    const float s = scale_value(w, at) * extra;
    if (--left == 0) left = per_block, ++at;
    return s;
  }
};

// Decodes one row (scales folded in) to FP32 so a block of tokens can reuse it. Every value is
// exact (E8M0 scales are powers of two), so folding a scale into the weight or into x gives the
// same products: gemv_rows, which folds it into x, matches this bit for bit.
template <class V>
inline void decode_row(const Weight& w, int64_t r, float* out) {
  const uint8_t* row = w.data + size_t(r) * w.row_bytes();
  constexpr int W = V::W;
  ScaleWalk scales(w, r, w.format == WeightFormat::FP8 ? 0x1p8f : 1.0f);  // V::fp8_pair yields e4m3 / 2^8
  for (int64_t c = 0; c < w.cols; c += 32) {
    auto s = V::set1(scales.next());
    switch (w.format) {
      case WeightFormat::F32: {
        for (int k = 0; k < 32; k += W) V::store(out + c + k, V::mul(V::load(reinterpret_cast<const float*>(row) + c + k), s));
        break;
      }
      case WeightFormat::BF16: {
        for (int k = 0; k < 32; k += W) V::store(out + c + k, V::mul(V::bf16(reinterpret_cast<const uint16_t*>(row) + c + k), s));
        break;
      }
      case WeightFormat::FP8: {
        for (int k = 0; k < 32; k += 2 * W) {
          typename V::F lo, hi;
          V::fp8_pair(row + c + k, lo, hi);
          V::store(out + c + k, V::mul(lo, s));
          V::store(out + c + k + W, V::mul(hi, s));
        }
        break;
      }
      case WeightFormat::FP4: {
        typename V::F v[32 / W];
        V::fp4_32(row + c / 2, s, v);
#pragma GCC unroll 4
        for (int j = 0; j < 32 / W; ++j) V::store(out + c + j * W, v[j]);
        break;
      }
    }
  }
}

// GEMV (n = 1) on rows [r0, r1), four at a time, decoding in registers: the same products in
// the same order as gemm_rows' decode-then-multiply (two accumulators per row, W-column chunks
// alternating between them, so two FMA chains per row hide the FMA latency), so a token's
// result does not depend on the path. FP8 folds the block scale into x
// (shared by the four rows when they lie in one block row), FP4 into its 16-value table. Folding
// into x is exact only for power-of-two scales, so FP8 with F32 scales takes gemm_rows' path.
template <class V>
void gemv_rows(const Weight& w, const float* x, float* y, int64_t r0, int64_t r1, float* xs) {
  constexpr int W = V::W;
  const int64_t K = w.cols, ahead = weight_prefetch_distance(w);
  for (int64_t r = r0; r < r1; r += 4) {
    const int nr = r1 - r < 4 ? int(r1 - r) : 4;
    // A group past r1 repeats row r (its sums are not stored).
    const int64_t rr[4] = {r, r + (nr > 1), r + 2 * (nr > 2), r + 3 * (nr > 3)};
    const uint8_t* rows[4];
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) rows[i] = w.data + size_t(rr[i]) * w.row_bytes();
    // The line `ahead` bytes on in each row, at the step that reaches a line's first byte.
    auto prefetch = [&](int64_t byte) {
      if (byte % 64 == 0)
        #pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) _mm_prefetch(reinterpret_cast<const char*>(rows[i] + ahead + byte), _MM_HINT_T1);
    };
    typename V::F acc[4][2];
    #pragma GCC unroll 4
    for (auto& a : acc) a[0] = a[1] = V::zero();
    switch (w.format) {
      case WeightFormat::F32:
      case WeightFormat::BF16: {
        const bool bf16 = w.format == WeightFormat::BF16;
        ScaleWalk scales[4] = {{w, rr[0], 1.0f}, {w, rr[1], 1.0f}, {w, rr[2], 1.0f}, {w, rr[3], 1.0f}};
        for (int64_t c = 0; c < K; c += 32) {
          typename V::F s[4];
          #pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) s[i] = V::set1(scales[i].next());
          prefetch(bf16 ? 2 * c : 4 * c);
          if (!bf16) prefetch(4 * c + 64);
          #pragma GCC unroll 4
          for (int k = 0; k < 32; k += W) {
            auto xv = V::load(x + c + k);
            #pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
              auto v = bf16 ? V::bf16(reinterpret_cast<const uint16_t*>(rows[i]) + c + k)
                            : V::load(reinterpret_cast<const float*>(rows[i]) + c + k);
              acc[i][k / W % 2] = V::fma(V::mul(v, s[i]), xv, acc[i][k / W % 2]);
            }
          }
        }
        break;
      }
      case WeightFormat::FP8: {
        // One scale row for all four rows (block_rows is a multiple of 4 in practice); else each
        // row scales its own copy of x.
        const bool shared = !w.scale || (w.row0 + r) / w.block_rows == (w.row0 + r + nr - 1) / w.block_rows;
        for (int i = 0; i < (shared ? 1 : nr); ++i) {
          ScaleWalk scales(w, r + i, 0x1p8f);
          for (int64_t c = 0; c < K; c += 32) {
            auto s = V::set1(scales.next());
            #pragma GCC unroll 4
            for (int k = 0; k < 32; k += W) V::store(xs + i * K + c + k, V::mul(V::load(x + c + k), s));
          }
        }
        for (int64_t c = 0; c < K; c += 2 * W) {
          prefetch(c);
          #pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            const float* xi = xs + (shared ? 0 : (i < nr ? i : 0) * K);
            typename V::F lo, hi;
            V::fp8_pair(rows[i] + c, lo, hi);
            acc[i][0] = V::fma(lo, V::load(xi + c), acc[i][0]);
            acc[i][1] = V::fma(hi, V::load(xi + c + W), acc[i][1]);
          }
        }
        break;
      }
      case WeightFormat::FP4: {
        ScaleWalk scales[4] = {{w, rr[0], 1.0f}, {w, rr[1], 1.0f}, {w, rr[2], 1.0f}, {w, rr[3], 1.0f}};
        for (int64_t c = 0; c < K; c += 32) {
          prefetch(c / 2);
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            typename V::F v[32 / W];
            V::fp4_32(rows[i] + c / 2, V::set1(scales[i].next()), v);
#pragma GCC unroll 4
            for (int j = 0; j < 32 / W; ++j) acc[i][j % 2] = V::fma(v[j], V::load(x + c + j * W), acc[i][j % 2]);
          }
        }
        break;
      }
    }
    for (int i = 0; i < nr; ++i) y[r + i] = V::hsum(V::add(acc[i][0], acc[i][1]));
  }
}

// T tokens x the 4 decoded rows of buf. The two accumulators of a (row, token) sum the even and
// the odd W-column chunks, as in gemv_rows; they are independent, so they are computed in two
// passes with one accumulator per (row, token) each: 4 x T accumulators stay in registers and
// each loaded row chunk feeds T FMAs.
template <class V, int T>
inline void tile(const float* buf, int64_t K, const float* X, float* Y, int64_t ystride, int nr) {
  constexpr int W = V::W;
  typename V::F half[2][4][T];
  for (int p = 0; p < 2; ++p) {
    typename V::F a[4][T];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) a[i][t] = V::zero();
    for (int64_t c = p * W; c < K; c += 2 * W) {
      typename V::F xv[T];
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) xv[t] = V::load(X + t * K + c);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        const auto wv = V::load(buf + i * K + c);
#pragma GCC unroll 8
        for (int t = 0; t < T; ++t) a[i][t] = V::fma(wv, xv[t], a[i][t]);
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) half[p][i][t] = a[i][t];
  }
  for (int i = 0; i < nr; ++i)
    for (int t = 0; t < T; ++t) Y[t * ystride + i] = V::hsum(V::add(half[0][i][t], half[1][i][t]));
}

// Rows decoded at a time for many tokens: a panel of about 128 KB of FP32 (a multiple of 4 rows).
inline int64_t panel_rows(int64_t K) { return 4 * (K >= 8192 ? 1 : 8192 / K); }

// A panel of rows decoded once, then blocks of tokens (about 256 KB of x, so panel and block stay
// in L2 while each x is reused for every row group) in tiles over each 4-row group. GEMV (n = 1)
// goes to gemv_rows, which computes the same, so a token's result never depends on how many
// tokens share the call (incremental decoding gives bit-identical results to a whole-sequence
// prefill). buf holds panel_rows(w.cols) * w.cols floats. Tiles of 3 tokens with 16 registers
// (AVX2), 6 with 32.
template <class V>
void gemm_rows(const Weight& w, const float* X, int64_t n, float* Y, int64_t r0, int64_t r1, float* buf) {
  if (n == 1 && !(w.format == WeightFormat::FP8 && w.scale_is_f32)) return gemv_rows<V>(w, X, Y, r0, r1, buf);
  constexpr int T = V::W == 16 ? 6 : 3;
  const int64_t K = w.cols, P = panel_rows(K), block = T * (65536 / K / T > 1 ? 65536 / K / T : 1);
  for (int64_t p0 = r0; p0 < r1; p0 += P) {
    const int64_t p1 = p0 + P < r1 ? p0 + P : r1;
    for (int64_t r = p0; r < p1; ++r) decode_row<V>(w, r, buf + (r - p0) * K);
    for (int64_t r = p1; r < (p1 - p0 + 3) / 4 * 4 + p0; ++r)  // the last group's missing rows
      for (int64_t c = 0; c < K; ++c) buf[(r - p0) * K + c] = 0;
    for (int64_t t0 = 0; t0 < n; t0 += block) {
      const int64_t t1 = t0 + block < n ? t0 + block : n;
      for (int64_t r = p0; r < p1; r += 4) {
        const int nr = p1 - r < 4 ? int(p1 - r) : 4;
        const float* rows = buf + (r - p0) * K;
        int64_t t = t0;
        for (; t + T <= t1; t += T) tile<V, T>(rows, K, X + t * K, Y + t * w.rows + r, w.rows, nr);
        for (; t + 2 <= t1; t += 2) tile<V, 2>(rows, K, X + t * K, Y + t * w.rows + r, w.rows, nr);
        for (; t < t1; ++t) tile<V, 1>(rows, K, X + t * K, Y + t * w.rows + r, w.rows, nr);
      }
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

// n a multiple of 16 (AVX-512: 32 when fp8_pair reads 32 bytes; else one pair of 8 and the rest).
// A scale of 2^120 or more cannot take the 2^8 (it would overflow): then the values are first
// brought back to e4m3 size, so every result is the exactly rounded e4m3 * scale.
template <class V>
void fp8_decode(const uint8_t* in, int64_t n, float scale, float* out) {
  const bool huge = !(scale < 0x1p120f);
  auto s = V::set1(huge ? scale : scale * 0x1p8f);
  int64_t i = 0;
  for (; i + 2 * V::W <= n; i += 2 * V::W) {
    typename V::F lo, hi;
    V::fp8_pair(in + i, lo, hi);
    if (huge) lo = V::mul(lo, V::set1(0x1p8f)), hi = V::mul(hi, V::set1(0x1p8f));
    V::store(out + i, V::mul(lo, s));
    V::store(out + i + V::W, V::mul(hi, s));
  }
  for (; i < n; ++i) out[i] = fp8_to_float(in[i]) * scale;
}

template <class V>
void fp8_decode_blocks64(const uint8_t* in, int64_t n, const uint8_t* scales, float* out) {
  for (int64_t b = 0; b < n; b += 64) {
    fp8_decode<V>(in + b, 64, e8m0_to_float(scales[b / 64]), out + b);
  }
}

}  // namespace
}  // namespace whalebox::model::simd
