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
  __m512 acc[4][NT];
  for (auto& a : acc)
    for (auto& v : a) v = _mm512_setzero_ps();
  for (int64_t k0 = 0; k0 < K; k0 += sb) {
    Scaled s[4];
    for (int i = 0; i < 4; ++i) s[i] = srow[i] ? scaled<F>(srow[i][k0 / sb]) : scaled<F>(127);
    for (int64_t k = k0; k < std::min(K, k0 + sb); k += 32) {
      __m512bh wv[4];
      for (int i = 0; i < 4; ++i) wv[i] = (__m512bh)widen<F>(row[i], k, s[i]);
      for (int j = 0; j < NT; ++j) {
        const __m512bh x = (__m512bh)_mm512_loadu_si512(Xb + j * K + k);
        for (int i = 0; i < 4; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], wv[i], x);
      }
    }
  }
  for (int j = 0; j < NT; ++j)
    for (int i = 0; i < nr; ++i) Y[j * ystride + i] = _mm512_reduce_add_ps(acc[i][j]);
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
    for (int j = 0; j < NT; ++j) {
      const __m512bh x = (__m512bh)_mm512_loadu_si512(Xb + j * K + k);
      for (int i = 0; i < 4; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], w[i], x);
    }
  }
  for (int j = 0; j < NT; ++j)
    for (int i = 0; i < nr; ++i) Y[j * ystride + i] = _mm512_reduce_add_ps(acc[i][j]);
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

}  // namespace
}  // namespace whalebox::model
#pragma GCC pop_options

namespace whalebox::model {

const Bf16Kernels* bf16_kernels() {
  static const Bf16Kernels k{bf16_rows, round_inputs};
  __builtin_cpu_init();
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi");
  return ok ? &k : nullptr;
}

}  // namespace whalebox::model
