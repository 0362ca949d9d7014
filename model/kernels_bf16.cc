// Fast-mode linears on AVX-512 BF16 (VDPBF16PS): inputs rounded to BF16, weights widened to
// BF16 in registers with their E8M0 block scale folded into the exponent. FP8 e4m3 (subnormals
// included), FP4 e2m1 and BF16 all widen exactly, so the only rounding is the inputs'.
// Each output (row, token) is one accumulator fed in column order and reduced by one fixed
// tree, whatever the number of tokens in the call: decode (n = 1) and prefill give
// bit-identical results.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/kernels.h"
#include "model/quant.h"

namespace whalebox::model {
namespace {
// A zeroed per-thread buffer of n values. Defined before the target pragma: a std::vector
// member instantiated under it could be compiled with AVX-512 and picked by the linker for
// other files.
uint16_t* zeroed_panel(size_t n) {
  thread_local std::vector<uint16_t> panel;
  panel.assign(n, 0);
  return panel.data();
}
}  // namespace
}  // namespace whalebox::model

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi")
#include <immintrin.h>

namespace whalebox::model {
namespace {

// Exponent offset of block scale byte e, in BF16 exponent units (bits 7..14).
inline __m512i exp_offset(int e) { return _mm512_set1_epi16(int16_t((e - 127) << 7)); }

// What an FP8 block scale contributes to widening, computed once per scale block: the
// exponent rebias (+120) plus scale, and the subnormal table (m * 2^-9 * scale).
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
  } else {
    return {_mm512_setzero_si512(), _mm512_setzero_si512()};
  }
}

// Columns [c, c + 32) of a BF16 or FP8 row widened to BF16 under its block's Scaled.
// FP8 e4m3: magnitude bits shifted to the BF16 exponent and mantissa fields and rebiased;
// subnormal codes (exponent 0) from the table; the sign (bit 15 of the sign-extended byte) kept.
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
  } else {
    return _mm512_setzero_si512();  // F32 takes the FP32 path
  }
}

// FP4 e2m1 rows widen 64 columns (two 1x32 scale blocks) at a time, into the order the inputs
// are permuted to (fp4_input_order in kernels.cc): the even columns of both blocks, then the odd
// ones. Byte j of the 32 holds columns 2j (low nibble) and 2j + 1, so one zero-extension and two
// vpermw lookups give all 64; index bit 4 picks the block's half of the table.
inline __m512i fp4_table(int e0, int e1) {
  // BF16 of 0, .5, 1, 1.5, 2, 3, 4, 6 and their negatives, for both blocks.
  const __m512i base = _mm512_setr_epi32(0x3f000000, 0x3fc03f80, 0x40404000, 0x40c04080, 0xbf008000, 0xbfc0bf80,
                                         0xc040c000, 0xc0c0c080, 0x3f000000, 0x3fc03f80, 0x40404000, 0x40c04080,
                                         0xbf008000, 0xbfc0bf80, 0xc040c000, 0xc0c0c080);
  const __m512i offset = _mm512_mask_blend_epi16(0xffff0000, exp_offset(e0), exp_offset(e1));
  return _mm512_mask_add_epi16(base, 0xfefefefe, base, offset);  // the zeros stay zero
}

inline void widen_fp4(const uint8_t* row, int64_t c, const __m512i& table, __m512i& even, __m512i& odd) {
  const __m512i block = _mm512_maskz_set1_epi16(0xffff0000, 0x10);
  const __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c / 2)));
  even = _mm512_permutexvar_epi16(_mm512_ternarylogic_epi32(block, b, _mm512_set1_epi16(0x0f), 0xf8), table);
  odd = _mm512_permutexvar_epi16(_mm512_or_si512(_mm512_srli_epi16(b, 4), block), table);
}

// Columns sharing one scale: FP8 blocks, all of an unscaled row.
template <WeightFormat F>
inline int64_t scale_block(const Weight& w) {
  if constexpr (F == WeightFormat::FP8) return w.block_cols;
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
  if constexpr (F == WeightFormat::FP4) {
    for (int64_t c = 0; c < w.cols; c += 64) {
      __m512i even, odd;
      widen_fp4(row, c, fp4_table(srow[c / 32], srow[c / 32 + 1]), even, odd);
      _mm512_storeu_si512(out + c, even);
      _mm512_storeu_si512(out + c + 32, odd);
    }
  } else {
    const int64_t sb = scale_block<F>(w);
    for (int64_t k0 = 0; k0 < w.cols; k0 += sb) {
      const Scaled s = srow ? scaled<F>(srow[k0 / sb]) : scaled<F>(127);
      for (int64_t c = k0; c < std::min(w.cols, k0 + sb); c += 32) _mm512_storeu_si512(out + c, widen<F>(row, c, s));
    }
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

// Each line of the rows weight_prefetch_distance() bytes on, once (at the step that reaches its
// first column), into L2 (kernels.h says why).
template <WeightFormat F>
inline void prefetch_ahead(const uint8_t* const (&row)[4], int64_t ahead, int64_t k) {
  if (col_byte<F>(k) % 64 == 0)
    for (int i = 0; i < 4; ++i) _mm_prefetch(reinterpret_cast<const char*>(row[i] + ahead + col_byte<F>(k)), _MM_HINT_T1);
}

// The weight bytes of the 4-row block at r (up to r1) into L2, while the current block's tiles
// run: a block is a page or more at V4 widths, and the hardware prefetcher stops at pages.
inline void prefetch_block(const Weight& w, int64_t r, int64_t r1) {
  if (r >= r1) return;
  const char* p = reinterpret_cast<const char*>(w.data + size_t(r) * w.row_bytes());
  const int64_t bytes = std::min<int64_t>(4, r1 - r) * int64_t(w.row_bytes());
  for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(p + b, _MM_HINT_T1);
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
  const int64_t ahead = weight_prefetch_distance(w);
  __m512 acc[4][NT];
  for (auto& a : acc)
    for (auto& v : a) v = _mm512_setzero_ps();
  if constexpr (F == WeightFormat::FP4) {
    for (int64_t k = 0; k < K; k += 64) {
      __m512bh even[4], odd[4];
      for (int i = 0; i < 4; ++i) {
        __m512i e, o;
        widen_fp4(row[i], k, fp4_table(srow[i][k / 32], srow[i][k / 32 + 1]), e, o);
        even[i] = (__m512bh)e, odd[i] = (__m512bh)o;
      }
      prefetch_ahead<F>(row, ahead, k);
      accumulate<NT>(acc, even, Xb, K, k);
      accumulate<NT>(acc, odd, Xb, K, k + 32);
    }
  } else {
    for (int64_t k0 = 0; k0 < K; k0 += sb) {
      Scaled s[4];
      for (int i = 0; i < 4; ++i) s[i] = srow[i] ? scaled<F>(srow[i][k0 / sb]) : scaled<F>(127);
      for (int64_t k = k0; k < std::min(K, k0 + sb); k += 32) {
        __m512bh wv[4];
        for (int i = 0; i < 4; ++i) wv[i] = (__m512bh)widen<F>(row[i], k, s[i]);
        prefetch_ahead<F>(row, ahead, k);
        accumulate<NT>(acc, wv, Xb, K, k);
      }
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
  uint16_t* const panel = zeroed_panel(size_t(4 * K));
  for (int64_t r = r0; r < r1; r += 4) {
    const int nr = r1 - r < 4 ? int(r1 - r) : 4;
    for (int i = 0; i < nr; ++i) widen_row<F>(w, r + i, panel + i * K);
    prefetch_block(w, r + 4, r1);
    int64_t t = 0;
    for (; t + 6 <= n; t += 6) tile<6>(panel, K, Xb + t * K, Y + t * w.rows + r, w.rows, nr);
    const uint16_t* x = Xb + t * K;
    float* y = Y + t * w.rows + r;
    switch (n - t) {  // the same accumulation per token, fewer tokens per pass
      case 5: tile<5>(panel, K, x, y, w.rows, nr); break;
      case 4: tile<4>(panel, K, x, y, w.rows, nr); break;
      case 3: tile<3>(panel, K, x, y, w.rows, nr); break;
      case 2: tile<2>(panel, K, x, y, w.rows, nr); break;
      case 1: tile<1>(panel, K, x, y, w.rows, nr); break;
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

void fp4_input_order(uint16_t* x, int64_t count) {
  // Output word p of 64 takes column (p / 16 % 2) * 32 + 2 * (p % 16) + p / 32.
  alignas(64) int16_t idx[64];
  for (int p = 0; p < 64; ++p) idx[p] = int16_t((p / 16 % 2) * 32 + 2 * (p % 16) + p / 32);
  const __m512i even = _mm512_load_si512(idx), odd = _mm512_load_si512(idx + 32);
  for (int64_t c = 0; c < count; c += 64) {
    const __m512i a = _mm512_loadu_si512(x + c), b = _mm512_loadu_si512(x + c + 32);
    _mm512_storeu_si512(x + c, _mm512_permutex2var_epi16(a, even, b));
    _mm512_storeu_si512(x + c + 32, _mm512_permutex2var_epi16(a, odd, b));
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

// e^x, within 2 ulp: x = n ln2 + r (|r| <= ln2 / 2, ln2 in two parts), e^r by its degree-6
// Taylor polynomial, times 2^n by VSCALEFPS (which also flushes x < -104 to 0).
inline __m512 exp_ps(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  for (float c : {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  return _mm512_scalef_ps(p, n);
}

// The first min(left, 16) lanes.
inline __mmask16 first_lanes(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }

void attn_softmax(const float* sc, int64_t n, int H, int hd, float* m, float* l, float* acc, uint16_t* pb, int64_t n2) {
  for (int h = 0; h < H; ++h) {
    const float* sh = sc + h * n;
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t u = 0; u < n; u += 16) {
      const __mmask16 k = first_lanes(n - u);
      vmax = _mm512_mask_max_ps(vmax, k, vmax, _mm512_maskz_loadu_ps(k, sh + u));
    }
    const float cm = std::max(m[h], _mm512_reduce_max_ps(vmax));
    if (cm > m[h]) {
      if (m[h] != -INFINITY) {
        const float r = std::exp(m[h] - cm);
        l[h] *= r;
        const __m512 vr = _mm512_set1_ps(r);
        for (int d = 0; d < hd; d += 16) _mm512_storeu_ps(acc + h * hd + d, _mm512_mul_ps(_mm512_loadu_ps(acc + h * hd + d), vr));
      }
      m[h] = cm;
    }
    uint16_t* ph = pb + h * n2;
    __m512 sum = _mm512_setzero_ps();
    for (int64_t u = 0; u < n; u += 16) {
      const __mmask16 k = first_lanes(n - u);
      const __m512 p = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, sh + u), _mm512_set1_ps(cm)));
      const __m256i p16 = (__m256i)_mm512_cvtneps_pbh(p);
      _mm256_mask_storeu_epi16(ph + u, k, p16);
      const __m512 rounded = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(p16), 16));
      sum = _mm512_mask_add_ps(sum, k, sum, rounded);
    }
    if (n2 > n) ph[n] = 0;
    l[h] += _mm512_reduce_add_ps(sum);
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
  if constexpr (NH == 4 && NK == 4) {
    // The 16 horizontal sums as one tree (45 shuffles and adds, not 16 reductions of 8):
    // 128-bit lane i of the result holds head h + i's scores of keys u .. u + 3.
    __m512 t[8], w[4];
    for (int k = 0; k < 8; ++k) {
      const __m512 a = acc[k / 2][(2 * k) % 4], b = acc[k / 2][(2 * k) % 4 + 1];
      t[k] = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    }
    for (int k = 0; k < 4; ++k) {
      const __m512d a = _mm512_castps_pd(t[2 * k]), b = _mm512_castps_pd(t[2 * k + 1]);
      w[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88), _mm512_shuffle_f32x4(w[0], w[1], 0xdd));
    const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(w[2], w[3], 0x88), _mm512_shuffle_f32x4(w[2], w[3], 0xdd));
    const __m512 all = _mm512_mul_ps(
        _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xdd)), _mm512_set1_ps(scale));
    _mm_storeu_ps(sc + (h + 0) * n + u, _mm512_extractf32x4_ps(all, 0));
    _mm_storeu_ps(sc + (h + 1) * n + u, _mm512_extractf32x4_ps(all, 1));
    _mm_storeu_ps(sc + (h + 2) * n + u, _mm512_extractf32x4_ps(all, 2));
    _mm_storeu_ps(sc + (h + 3) * n + u, _mm512_extractf32x4_ps(all, 3));
  } else {
    for (int i = 0; i < NH; ++i)
      for (int j = 0; j < NK; ++j) sc[(h + i) * n + u + j] = _mm512_reduce_add_ps(acc[i][j]) * scale;
  }
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
  static const Bf16Kernels k{bf16_rows,   round_inputs, fp4_input_order, kv_entry, attn_key_pairs, attn_scores,
                             attn_softmax, attn_pv};
  static const bool ok =
      cpu_allows("avx512f") && cpu_allows("avx512bw") && cpu_allows("avx512bf16") && cpu_allows("avx512vbmi");
  return ok ? &k : nullptr;
}

}  // namespace whalebox::model
