// Fast-mode linears on AVX-512 BF16 (VDPBF16PS): inputs rounded to BF16, weights widened to
// BF16 in registers with their E8M0 block scale folded into the exponent. FP8 e4m3 (subnormals
// included), FP4 e2m1 and BF16 all widen exactly, so the only rounding is the inputs'.
// Each output (row, token) is one accumulator fed in column order and reduced by one fixed
// tree, whatever the number of tokens in the call: decode (n = 1) and prefill give
// bit-identical results.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "model/kernels.h"
#include "model/quant.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi")
#include <immintrin.h>

namespace whalebox::model {
namespace {

// Exponent offset of block scale byte e, in BF16 exponent units (bits 7..14).
inline __m512i exp_offset(int e) { return _mm512_set1_epi16(int16_t((e - 127) << 7)); }

// What a block scale contributes to widening, computed once per scale block.
// FP8: the exponent rebias (+120) plus scale, and the subnormal table (m * 2^-9 * scale);
// FP4: the 16-entry value table times the scale.
struct Scaled {
  __m512i a, b;
};

template <WeightFormat F>
inline Scaled scaled(int e) {
  if constexpr (F == WeightFormat::FP8) {
    // BF16 bits of m * 2^-9 for m = 0..7.
    const __m512i sub_base = _mm512_setr_epi32(0x3b000000, 0x3bc03b80, 0x3c203c00, 0x3c603c40, 0, 0, 0, 0, 0, 0, 0,
                                               0, 0, 0, 0, 0);
    return {_mm512_set1_epi16(int16_t((e - 127 + 120) << 7)), _mm512_mask_add_epi16(sub_base, 0xfe, sub_base, exp_offset(e))};
  } else if constexpr (F == WeightFormat::FP4) {
    // BF16 of 0, .5, 1, 1.5, 2, 3, 4, 6 and their negatives, repeated for indices 16..31.
    const __m512i base = _mm512_setr_epi32(0x3f000000, 0x3fc03f80, 0x40404000, 0x40c04080, 0xbf008000, 0xbfc0bf80,
                                           0xc040c000, 0xc0c0c080, 0x3f000000, 0x3fc03f80, 0x40404000, 0x40c04080,
                                           0xbf008000, 0xbfc0bf80, 0xc040c000, 0xc0c0c080);
    return {_mm512_mask_add_epi16(base, 0xfefefefe, base, exp_offset(e)), _mm512_setzero_si512()};
  } else {
    return {_mm512_setzero_si512(), _mm512_setzero_si512()};
  }
}

// Columns [c, c + 32) of a row widened to BF16 under its block's Scaled.
// FP8 e4m3: magnitude bits shifted to the BF16 exponent and mantissa fields and rebiased;
// subnormal codes (exponent 0) from the table; the sign (bit 15 of the sign-extended byte) kept.
// FP4 e2m1 pairs (element 2i low nibble): word j <- byte j/2, odd words shifted right by 4,
// then vpermw on the low 5 bits.
template <WeightFormat F>
inline __m512i widen(const uint8_t* row, int64_t c, const Scaled& s) {
  if constexpr (F == WeightFormat::BF16) {
    return _mm512_loadu_si512(row + 2 * c);
  } else if constexpr (F == WeightFormat::FP8) {
    const __m512i raw = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c)));
    const __m512i mag = _mm512_and_si512(raw, _mm512_set1_epi16(0x7f));
    __m512i v = _mm512_add_epi16(_mm512_slli_epi16(mag, 4), s.a);
    v = _mm512_mask_permutexvar_epi16(v, _mm512_testn_epi16_mask(raw, _mm512_set1_epi16(0x78)), mag, s.b);
    return _mm512_ternarylogic_epi32(v, raw, _mm512_set1_epi16(int16_t(0x8000)), 0xf8);
  } else if constexpr (F == WeightFormat::FP4) {
    const __m512i dup = _mm512_setr_epi32(0x00000000, 0x00010001, 0x00020002, 0x00030003, 0x00040004, 0x00050005,
                                          0x00060006, 0x00070007, 0x00080008, 0x00090009, 0x000a000a, 0x000b000b,
                                          0x000c000c, 0x000d000d, 0x000e000e, 0x000f000f);
    const __m512i src = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c / 2)));
    __m512i w = _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, dup, src);
    w = _mm512_srlv_epi16(w, _mm512_set1_epi32(0x00040000));
    return _mm512_permutexvar_epi16(w, s.a);
  } else {
    return _mm512_setzero_si512();  // F32 takes the FP32 path
  }
}

// Columns sharing one scale: FP8 blocks, FP4 32s, all of an unscaled row.
template <WeightFormat F>
inline int64_t scale_block(const Weight& w) {
  if constexpr (F == WeightFormat::FP8) return w.block_cols;
  if constexpr (F == WeightFormat::FP4) return 32;
  return w.cols;
}

inline const uint8_t* scale_row(const Weight& w, int64_t r) {
  return w.scale ? w.scale + ((w.row0 + r) / w.block_rows) * w.scale_cols : nullptr;
}

// Row r of w widened to BF16 into out[0, K).
template <WeightFormat F>
void widen_row(const Weight& w, int64_t r, uint16_t* out) {
  const uint8_t* row = w.data + size_t(r) * w.row_bytes();
  const uint8_t* srow = scale_row(w, r);
  const int64_t sb = scale_block<F>(w);
  for (int64_t k0 = 0; k0 < w.cols; k0 += sb) {
    const Scaled s = srow ? scaled<F>(srow[k0 / sb]) : scaled<F>(127);
    for (int64_t c = k0; c < std::min(w.cols, k0 + sb); c += 32) _mm512_storeu_si512(out + c, widen<F>(row, c, s));
  }
}

// One k step of a 4-row x NT-token tile: acc[i][j] += w[i] . x_j over 32 BF16 pairs.
template <int NT>
inline void accumulate(__m512 (&acc)[4][NT], const __m512bh (&w)[4], const uint16_t* Xb, int64_t K, int64_t k) {
  for (int j = 0; j < NT; ++j) {
    const __m512bh x = (__m512bh)_mm512_loadu_si512(Xb + j * K + k);
    for (int i = 0; i < 4; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], w[i], x);
  }
}

template <int NT>
inline void store(const __m512 (&acc)[4][NT], float* Y, int64_t ystride, int nr) {
  for (int j = 0; j < NT; ++j)
    for (int i = 0; i < nr; ++i) Y[j * ystride + i] = _mm512_reduce_add_ps(acc[i][j]);
}

// Byte offset of column c within a row.
template <WeightFormat F>
constexpr int64_t col_byte(int64_t c) {
  return F == WeightFormat::BF16 ? 2 * c : F == WeightFormat::FP8 ? c : c / 2;
}

// Few tokens (decode): 4 rows widened in registers straight into NT x 4 accumulators, in the
// same order as tile() below, so the result is the same as with a widened panel.
template <WeightFormat F, int NT>
void direct(const Weight& w, int64_t r, int nr, const uint16_t* Xb, float* Y, int64_t ystride) {
  const int64_t K = w.cols, sb = scale_block<F>(w);
  const uint8_t* row[4];
  const uint8_t* srow[4];
  for (int i = 0; i < 4; ++i) {
    const int64_t ri = r + (i < nr ? i : 0);
    row[i] = w.data + size_t(ri) * w.row_bytes();
    srow[i] = scale_row(w, ri);
  }
  const int64_t ahead = 8 * int64_t(w.row_bytes());  // two blocks on: measured best of 4, 8, 16
  __m512 acc[4][NT];
  for (auto& a : acc)
    for (auto& v : a) v = _mm512_setzero_ps();
  for (int64_t k0 = 0; k0 < K; k0 += sb) {
    Scaled s[4];
    for (int i = 0; i < 4; ++i) s[i] = srow[i] ? scaled<F>(srow[i][k0 / sb]) : scaled<F>(127);
    for (int64_t k = k0; k < std::min(K, k0 + sb); k += 32) {
      __m512bh wv[4];
      for (int i = 0; i < 4; ++i) wv[i] = (__m512bh)widen<F>(row[i], k, s[i]);
      // Each line of the rows two blocks on, once: rows are a page or more apart at V4 widths and
      // the hardware prefetcher stops at pages (streamed FP8 weights: 1.6-2x faster).
      if (col_byte<F>(k) % 64 == 0)
        for (int i = 0; i < 4; ++i) _mm_prefetch(reinterpret_cast<const char*>(row[i] + ahead + col_byte<F>(k)), _MM_HINT_T0);
      accumulate<NT>(acc, wv, Xb, K, k);
    }
  }
  store<NT>(acc, Y, ystride, nr);
}

// NT tokens x 4 widened rows: 4 * NT accumulators.
template <int NT>
inline void tile(const uint16_t* Wb, int64_t K, const uint16_t* Xb, float* Y, int64_t ystride, int nr) {
  __m512 acc[4][NT];
  for (auto& a : acc)
    for (auto& v : a) v = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 32) {
    __m512bh w[4];
    for (int i = 0; i < 4; ++i) w[i] = (__m512bh)_mm512_loadu_si512(Wb + i * K + k);
    accumulate<NT>(acc, w, Xb, K, k);
  }
  store<NT>(acc, Y, ystride, nr);
}

template <WeightFormat F>
void rows_of(const Weight& w, const uint16_t* Xb, int64_t n, float* Y, int64_t r0, int64_t r1) {
  const int64_t K = w.cols;
  if (n <= 2) {
    for (int64_t r = r0; r < r1; r += 4) {
      const int nr = r1 - r < 4 ? int(r1 - r) : 4;
      if (n == 1) direct<F, 1>(w, r, nr, Xb, Y + r, w.rows);
      else direct<F, 2>(w, r, nr, Xb, Y + r, w.rows);
    }
    return;
  }
  thread_local std::vector<uint16_t> panel;
  panel.assign(size_t(4 * K), 0);
  for (int64_t r = r0; r < r1; r += 4) {
    const int nr = r1 - r < 4 ? int(r1 - r) : 4;
    for (int i = 0; i < nr; ++i) widen_row<F>(w, r + i, panel.data() + i * K);
    int64_t t = 0;
    for (; t + 6 <= n; t += 6) tile<6>(panel.data(), K, Xb + t * K, Y + t * w.rows + r, w.rows, nr);
    const uint16_t* x = Xb + t * K;
    float* y = Y + t * w.rows + r;
    switch (n - t) {  // the same accumulation per token, fewer tokens per pass
      case 5: tile<5>(panel.data(), K, x, y, w.rows, nr); break;
      case 4: tile<4>(panel.data(), K, x, y, w.rows, nr); break;
      case 3: tile<3>(panel.data(), K, x, y, w.rows, nr); break;
      case 2: tile<2>(panel.data(), K, x, y, w.rows, nr); break;
      case 1: tile<1>(panel.data(), K, x, y, w.rows, nr); break;
      default: break;
    }
  }
}

void bf16_rows(const Weight& w, const uint16_t* Xb, int64_t n, float* Y, int64_t r0, int64_t r1) {
  switch (w.format) {
    case WeightFormat::BF16: return rows_of<WeightFormat::BF16>(w, Xb, n, Y, r0, r1);
    case WeightFormat::FP8: return rows_of<WeightFormat::FP8>(w, Xb, n, Y, r0, r1);
    case WeightFormat::FP4: return rows_of<WeightFormat::FP4>(w, Xb, n, Y, r0, r1);
    case WeightFormat::F32: return;  // not reached: F32 weights take the FP32 path
  }
}

// X [n, K] FP32 -> BF16 (round to nearest even).
void round_inputs(const float* X, int64_t count, uint16_t* out) {
  int64_t i = 0;
  for (; i + 32 <= count; i += 32) {
    __m512bh b = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(X + i + 16), _mm512_loadu_ps(X + i));
    _mm512_storeu_si512(out + i, (__m512i)b);
  }
  for (; i < count; ++i) {
    __m128bh b = _mm_cvtneps_pbh(_mm_set_ss(X[i]));
    out[i] = uint16_t(_mm_extract_epi16((__m128i)b, 0));
  }
}

// A production KV entry to BF16: nope dims widened like FP8 weights (exact for scales in
// [10, 240]), rope dims copied.
void kv_entry(const uint8_t* in, int nope, int rope, uint16_t* out) {
  const uint8_t* scales = in + nope + 2 * rope;
  for (int b = 0; b < nope / 64; ++b) {
    const int e = scales[b];
    if (e >= 10 && e <= 240) {
      const Scaled s = scaled<WeightFormat::FP8>(e);
      _mm512_storeu_si512(out + 64 * b, widen<WeightFormat::FP8>(in, 64 * b, s));
      _mm512_storeu_si512(out + 64 * b + 32, widen<WeightFormat::FP8>(in, 64 * b + 32, s));
    } else {
      for (int i = 64 * b; i < 64 * b + 64; ++i) out[i] = float_to_bf16(fp8_to_float(in[i]) * e8m0_to_float(uint8_t(e)));
    }
  }
  for (int d = 0; d < rope; d += 32) _mm512_storeu_si512(out + nope + d, _mm512_loadu_si512(in + nope + 2 * d));
}

// Key pairs (k_2j[d], k_2j+1[d]) adjacent so one VDPBF16PS sums two keys' contributions to 16
// output dims.
void attn_key_pairs(const uint16_t* kb, int64_t n, int hd, uint16_t* kp) {
  // Words 0..31 of key a and 32..63 of key b: (a_d, b_d) for d = 0..15, then d = 16..31.
  const __m512i lo = _mm512_setr_epi32(0x200000, 0x210001, 0x220002, 0x230003, 0x240004, 0x250005, 0x260006, 0x270007,
                                       0x280008, 0x290009, 0x2a000a, 0x2b000b, 0x2c000c, 0x2d000d, 0x2e000e, 0x2f000f);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  for (int64_t u = 0; u < n; u += 2) {
    const uint16_t* a = kb + u * hd;
    uint16_t* out = kp + u * hd;
    for (int d = 0; d < hd; d += 32) {
      const __m512i x = _mm512_loadu_si512(a + d);
      const __m512i y = u + 1 < n ? _mm512_loadu_si512(a + hd + d) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + 2 * d, _mm512_permutex2var_epi16(x, lo, y));
      _mm512_storeu_si512(out + 2 * d + 32, _mm512_permutex2var_epi16(x, hi, y));
    }
  }
}

// NH heads x NK keys of scores, one accumulator each, dims in order.
template <int NH, int NK>
inline void scores_block(const uint16_t* qb, const uint16_t* kb, int64_t n, int hd, float scale, float* sc, int h,
                         int64_t u) {
  __m512 acc[NH][NK];
  for (auto& a : acc)
    for (auto& v : a) v = _mm512_setzero_ps();
  for (int d = 0; d < hd; d += 32) {
    __m512bh kv[NK];
    for (int j = 0; j < NK; ++j) kv[j] = (__m512bh)_mm512_loadu_si512(kb + (u + j) * hd + d);
    for (int i = 0; i < NH; ++i) {
      const __m512bh qv = (__m512bh)_mm512_loadu_si512(qb + (h + i) * hd + d);
      for (int j = 0; j < NK; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], qv, kv[j]);
    }
  }
  for (int i = 0; i < NH; ++i)
    for (int j = 0; j < NK; ++j) sc[(h + i) * n + u + j] = _mm512_reduce_add_ps(acc[i][j]) * scale;
}

template <int NK>
inline void scores_keys(const uint16_t* qb, const uint16_t* kb, int64_t n, int H, int hd, float scale, float* sc,
                        int64_t u) {
  int h = 0;
  for (; h + 4 <= H; h += 4) scores_block<4, NK>(qb, kb, n, hd, scale, sc, h, u);
  for (; h < H; ++h) scores_block<1, NK>(qb, kb, n, hd, scale, sc, h, u);
}

void attn_scores(const uint16_t* qb, const uint16_t* kb, int64_t n, int H, int hd, float scale, float* sc) {
  int64_t u = 0;
  for (; u + 4 <= n; u += 4) scores_keys<4>(qb, kb, n, H, hd, scale, sc, u);
  for (; u < n; ++u) scores_keys<1>(qb, kb, n, H, hd, scale, sc, u);
}

// NH heads x ND vectors of 16 dims held in registers across all key pairs.
template <int NH, int ND>
inline void pv_block(const uint16_t* pb, const uint16_t* kp, int64_t n2, int hd, float* acc, int h, int d) {
  __m512 a[NH][ND];
  for (int i = 0; i < NH; ++i)
    for (int v = 0; v < ND; ++v) a[i][v] = _mm512_loadu_ps(acc + (h + i) * hd + d + 16 * v);
  for (int64_t u = 0; u < n2; u += 2) {
    __m512bh kv[ND];
    for (int v = 0; v < ND; ++v) kv[v] = (__m512bh)_mm512_loadu_si512(kp + u * hd + 2 * (d + 16 * v));
    for (int i = 0; i < NH; ++i) {
      uint32_t pair;
      __builtin_memcpy(&pair, pb + (h + i) * n2 + u, 4);
      const __m512bh p = (__m512bh)_mm512_set1_epi32(int(pair));
      for (int v = 0; v < ND; ++v) a[i][v] = _mm512_dpbf16_ps(a[i][v], p, kv[v]);
    }
  }
  for (int i = 0; i < NH; ++i)
    for (int v = 0; v < ND; ++v) _mm512_storeu_ps(acc + (h + i) * hd + d + 16 * v, a[i][v]);
}

template <int NH>
inline void pv_heads(const uint16_t* pb, const uint16_t* kp, int64_t n2, int hd, float* acc, int h) {
  int d = 0;
  for (; d + 64 <= hd; d += 64) pv_block<NH, 4>(pb, kp, n2, hd, acc, h, d);
  for (; d < hd; d += 16) pv_block<NH, 1>(pb, kp, n2, hd, acc, h, d);
}

void attn_pv(const uint16_t* pb, const uint16_t* kp, int64_t n2, int H, int hd, float* acc) {
  int h = 0;
  for (; h + 4 <= H; h += 4) pv_heads<4>(pb, kp, n2, hd, acc, h);
  for (; h < H; ++h) pv_heads<1>(pb, kp, n2, hd, acc, h);
}

}  // namespace
}  // namespace whalebox::model
#pragma GCC pop_options

namespace whalebox::model {

const Bf16Kernels* bf16_kernels() {
  static const Bf16Kernels k{bf16_rows, round_inputs, kv_entry, attn_key_pairs, attn_scores, attn_pv};
  __builtin_cpu_init();
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi");
  return ok ? &k : nullptr;
}

}  // namespace whalebox::model
