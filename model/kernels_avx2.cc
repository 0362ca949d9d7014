// AVX2+FMA+F16C instantiation of kernels_simd.h (run only where the CPU has all three).
#include <cstdint>
#include <vector>

#include "model/kernels.h"
#include "model/quant.h"  // before the target pragma: its inline helpers keep the default target

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#include "model/kernels_simd.h"

namespace whalebox::model {
namespace {

struct V256 {
  using F = __m256;
  static constexpr int W = 8;
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static F bf16(const uint16_t* p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  // 16 e4m3 bytes -> 16 values / 2^8 (columns 0-7, 8-15): sign-extended to 16 bits, shifted
  // so exponent and mantissa land in an FP16's (bias 15 instead of 7; subnormals map to FP16
  // subnormals), then F16C. Exact.
  static void fp8_pair(const uint8_t* p, F& lo, F& hi) {
    __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    __m256i h = _mm256_and_si256(_mm256_slli_epi16(v, 7), _mm256_set1_epi16(int16_t(0xBF80)));
    lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
    hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
  }
  // 16 bytes (32 e2m1 values) times the scale s, in prepared-x order: the low nibbles (even
  // columns) of bytes 0-7 and 8-15, then the high nibbles. A byte shuffle looks up each value's
  // FP16 high byte (its low byte is 0 for every e2m1 value), F16C widens: no cross-lane permute,
  // which is slow here.
  static void fp4_32(const uint8_t* p, F s, F (&out)[4]) {
    const __m128i hi_bytes = _mm_setr_epi8(0, 0x38, 0x3C, 0x3E, 0x40, 0x42, 0x44, 0x46, char(0x80), char(0xB8),
                                           char(0xBC), char(0xBE), char(0xC0), char(0xC2), char(0xC4), char(0xC6));
    const __m128i nibble = _mm_set1_epi8(15), zero = _mm_setzero_si128();
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i even = _mm_shuffle_epi8(hi_bytes, _mm_and_si128(b, nibble));
    const __m128i odd = _mm_shuffle_epi8(hi_bytes, _mm_and_si128(_mm_srli_epi16(b, 4), nibble));
    out[0] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpacklo_epi8(zero, even)), s);
    out[1] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpackhi_epi8(zero, even)), s);
    out[2] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpacklo_epi8(zero, odd)), s);
    out[3] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpackhi_epi8(zero, odd)), s);
  }
};

void gemm_rows_buf(const Weight& w, const float* X, int64_t n, float* Y, int64_t r0, int64_t r1, float* buf) {
  simd::gemm_rows<V256>(w, X, n, Y, r0, r1, buf);
}
float dot_v(const float* a, const float* b, int64_t n) { return simd::dot<V256>(a, b, n); }
void axpy_v(float* y, float a, const float* x, int64_t n) { simd::axpy<V256>(y, a, x, n); }
void fp8_decode_v(const uint8_t* in, int64_t n, float scale, float* out) { simd::fp8_decode<V256>(in, n, scale, out); }
void fp8_blocks_v(const uint8_t* in, int64_t n, const uint8_t* scales, float* out) {
  simd::fp8_decode_blocks64<V256>(in, n, scales, out);
}
void attn_scores_v(const float* q, const float* k, int64_t n, int H, int hd, float scale, float* sc) {
  simd::attn_scores<V256>(q, k, n, H, hd, scale, sc);
}
void attn_pv_v(const float* p, const float* k, int64_t n, int H, int hd, float* acc) { simd::attn_pv<V256>(p, k, n, H, hd, acc); }

}  // namespace
}  // namespace whalebox::model
#pragma GCC pop_options

namespace whalebox::model {
namespace {
void gemm_rows_v(const Weight& w, const float* X, int64_t n, float* Y, int64_t r0, int64_t r1) {
  thread_local std::vector<float> buf;
  buf.resize(size_t(simd::panel_rows(w.cols) * w.cols));
  gemm_rows_buf(w, X, n, Y, r0, r1, buf.data());
}
}  // namespace

const KernelTable* avx2_kernels() {
  static const KernelTable t{gemm_rows_v, dot_v, axpy_v, fp8_decode_v, fp8_blocks_v, attn_scores_v, attn_pv_v};
  return &t;
}

}  // namespace whalebox::model
