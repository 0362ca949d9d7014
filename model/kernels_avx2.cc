// AVX2+FMA instantiation of kernels_simd.h (run only where the CPU has AVX2 and FMA).
#include <cstdint>
#include <vector>

#include "model/kernels.h"
#include "model/quant.h"  // before the target pragma: its inline helpers keep the default target

#pragma GCC push_options
#pragma GCC target("avx2,fma")
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
  // Same bit trick as the AVX-512 path: exponent+mantissa to bits 20..26, times 2^120.
  static F fp8(const uint8_t* p) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    __m256i mag = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7f)), 20);
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x80)), 24);
    return _mm256_mul_ps(_mm256_castsi256_ps(_mm256_or_si256(mag, sign)), _mm256_set1_ps(0x1p120f));
  }
  // 8 bytes -> 8 even (low nibble) and 8 odd (high nibble) values: magnitude by an 8-entry
  // permute, sign bit moved to bit 31.
  static void fp4(const uint8_t* p, F& lo, F& hi) {
    const __m256 mags = _mm256_setr_ps(0, 0.5f, 1, 1.5f, 2, 3, 4, 6);
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    __m256i l = _mm256_and_si256(v, _mm256_set1_epi32(15)), h = _mm256_srli_epi32(v, 4);
    auto decode = [&](__m256i n) {
      __m256 m = _mm256_permutevar8x32_ps(mags, n);  // uses the low 3 bits
      __m256i s = _mm256_slli_epi32(_mm256_and_si256(n, _mm256_set1_epi32(8)), 28);
      return _mm256_xor_ps(m, _mm256_castsi256_ps(s));
    };
    lo = decode(l);
    hi = decode(h);
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
  buf.resize(size_t(4 * w.cols));
  gemm_rows_buf(w, X, n, Y, r0, r1, buf.data());
}
}  // namespace

const KernelTable* avx2_kernels() {
  static const KernelTable t{gemm_rows_v, dot_v, axpy_v, fp8_decode_v, fp8_blocks_v, attn_scores_v, attn_pv_v};
  return &t;
}

}  // namespace whalebox::model
