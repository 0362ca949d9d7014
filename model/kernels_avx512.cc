// AVX-512 instantiation of kernels_simd.h (run only where the CPU has AVX-512 F/BW/VL).
#include <cstdint>
#include <vector>

#include "model/kernels.h"
#include "model/quant.h"  // before the target pragma: its inline helpers keep the default target

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma")
#include "model/kernels_simd.h"

namespace whalebox::model {
namespace {

struct V512 {
  using F = __m512;
  static constexpr int W = 16;
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(F v) { return _mm512_reduce_add_ps(v); }
  static F bf16(const uint16_t* p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
  // 32 e4m3 bytes -> 32 values / 2^8 (columns 0-15, 16-31), as in the AVX2 path: shifted into
  // FP16 layout (bias 15 instead of 7, subnormals to FP16 subnormals), then converted. Exact.
  static void fp8_pair(const uint8_t* p, F& lo, F& hi) {
    __m512i v = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    __m512i h = _mm512_and_si512(_mm512_slli_epi16(v, 7), _mm512_set1_epi16(int16_t(0xBF80)));
    lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
  }
  // 16 bytes (32 e2m1 values) times the scale s, in prepared-x order: the 16 low nibbles (even
  // columns), then the 16 high nibbles; a 16-entry permute of the scaled table.
  static void fp4_32(const uint8_t* p, F s, F (&out)[2]) {
    const __m512 table =
        _mm512_mul_ps(_mm512_setr_ps(0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6), s);
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    out[0] = _mm512_permutexvar_ps(_mm512_and_si512(v, _mm512_set1_epi32(15)), table);
    out[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
  }
};

void gemm_rows_buf(const Weight& w, const float* X, int64_t n, float* Y, int64_t r0, int64_t r1, float* buf) {
  simd::gemm_rows<V512>(w, X, n, Y, r0, r1, buf);
}
float dot_v(const float* a, const float* b, int64_t n) { return simd::dot<V512>(a, b, n); }
void axpy_v(float* y, float a, const float* x, int64_t n) { simd::axpy<V512>(y, a, x, n); }
void fp8_decode_v(const uint8_t* in, int64_t n, float scale, float* out) { simd::fp8_decode<V512>(in, n, scale, out); }
void fp8_blocks_v(const uint8_t* in, int64_t n, const uint8_t* scales, float* out) {
  simd::fp8_decode_blocks64<V512>(in, n, scales, out);
}
void attn_scores_v(const float* q, const float* k, int64_t n, int H, int hd, float scale, float* sc) {
  simd::attn_scores<V512>(q, k, n, H, hd, scale, sc);
}
void attn_pv_v(const float* p, const float* k, int64_t n, int H, int hd, float* acc) { simd::attn_pv<V512>(p, k, n, H, hd, acc); }

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

const KernelTable* avx512_kernels() {
  static const KernelTable t{gemm_rows_v, dot_v, axpy_v, fp8_decode_v, fp8_blocks_v, attn_scores_v, attn_pv_v};
  return &t;
}

}  // namespace whalebox::model
