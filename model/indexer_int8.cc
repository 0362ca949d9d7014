// Fast-mode indexer scores on AVX-512 VNNI or AVX2. Keys and queries are both FP4 e2m1 with one
// E8M0 scale per 32 values; twice an e2m1 value is an integer in [-12, 12], so each 32-block dot
// product is an exact int32 (key codes + 12 as u8 times query codes as s8: VPDPBUSD, or on AVX2
// VPMADDUBSW pairs summed in 16 bits (at most 8 x 576) and VPMADDWD; the +12 taken back by
// starting the accumulator at -12 * sum(query codes)). One key per vector lane; blocks are
// scaled and summed in FP32 in block order, heads in head order, so both kernels give the same
// bits.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "model/indexer.h"
#include "model/kernels.h"
#include "model/quant.h"
#include "model/thread_pool.h"

#include <immintrin.h>

namespace whalebox::model {
namespace {

constexpr int kMaxHeads = 64, kMaxWords = 64;  // index_head_dim <= 512 (dim / 8 dwords of codes)

struct QueryCodes {
  int heads = 0, dim = 0;
  int32_t even[kMaxHeads][kMaxWords], odd[kMaxHeads][kMaxWords];  // 4 s8 codes per dword of keys
  int32_t corr[kMaxHeads][kMaxWords / 4];                         // -12 * sum of codes per block
  float scale[kMaxHeads][kMaxWords / 4];                          // query scale / 4 per block
};

int8_t twice_e2m1(uint8_t nibble) { return int8_t(fp4_to_float(nibble) * 2.0f); }

void prepare(const uint8_t* q, int heads, int dim, int64_t qbytes, QueryCodes& out) {
  out.heads = heads;
  out.dim = dim;
  for (int h = 0; h < heads; ++h) {
    const uint8_t* qh = q + h * qbytes;
    for (int j = 0; j < dim / 8; ++j) {
      uint32_t e = 0, o = 0;
      for (int m = 0; m < 4; ++m) {
        e |= uint32_t(uint8_t(twice_e2m1(qh[4 * j + m] & 15))) << (8 * m);
        o |= uint32_t(uint8_t(twice_e2m1(qh[4 * j + m] >> 4))) << (8 * m);
      }
      out.even[h][j] = int32_t(e);
      out.odd[h][j] = int32_t(o);
    }
    for (int b = 0; b < dim / 32; ++b) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += twice_e2m1(qh[16 * b + i] & 15) + twice_e2m1(qh[16 * b + i] >> 4);
      out.corr[h][b] = -12 * sum;
      out.scale[h][b] = e8m0_to_float(qh[dim / 2 + b]) * 0.25f;
    }
  }
}

}  // namespace
}  // namespace whalebox::model

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")

namespace whalebox::model {
namespace {

// 16 rows of 16 dwords -> 16 columns (out[k] lane i = row i dword k).
inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int k = 0; k < 4; ++k) {
    t[k] = _mm512_shuffle_i32x4(r[k], r[4 + k], 0x88);
    t[4 + k] = _mm512_shuffle_i32x4(r[k], r[4 + k], 0xdd);
    t[8 + k] = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0x88);
    t[12 + k] = _mm512_shuffle_i32x4(r[8 + k], r[12 + k], 0xdd);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm512_shuffle_i32x4(t[k], t[8 + k], 0x88);
    r[8 + k] = _mm512_shuffle_i32x4(t[k], t[8 + k], 0xdd);
    r[4 + k] = _mm512_shuffle_i32x4(t[4 + k], t[12 + k], 0x88);
    r[12 + k] = _mm512_shuffle_i32x4(t[4 + k], t[12 + k], 0xdd);
  }
}

// Scores of keys [j0, j0 + m) (m <= 32, all in one page), in two groups of 16 lanes that share
// each query broadcast. Keys are loaded 16 dwords (128 dims) at a time and transposed so that
// each vector lane holds one key.
void score32(const uint8_t* base, int64_t stride, int m, const QueryCodes& q, const float* head_w, float* out) {
  constexpr int G = 2;
  __mmask16 lanes[G];
  for (int g = 0; g < G; ++g) {
    const int left = m - 16 * g, mg = left < 0 ? 0 : left > 16 ? 16 : left;  // no std:: template in a target region
    lanes[g] = __mmask16((1u << mg) - 1);
  }
  const __m512i off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(int32_t(stride)));
  // e2m1 code -> 2 * value + 12, in every 128-bit lane for VPSHUFB.
  const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const int dim = q.dim, words = dim / 8;
  __m512 total[kMaxHeads][G];
  for (int h = 0; h < q.heads; ++h)
    for (int g = 0; g < G; ++g) total[h][g] = _mm512_setzero_ps();
  for (int c0 = 0; c0 < words; c0 += 16) {
    const int cw = words - c0 < 16 ? words - c0 : 16;
    const __mmask16 wmask = __mmask16((1u << cw) - 1);
    __m512i col[G][16];
    for (int g = 0; g < G; ++g) {
      for (int i = 0; i < 16; ++i)
        // A full 64-byte load where the whole row chunk is wanted: masked loads that cross a
        // cache line (most rows do, at 68-byte strides) are slower.
        col[g][i] = 16 * g + i >= m ? _mm512_setzero_si512()
                    : cw == 16      ? _mm512_loadu_si512(base + (16 * g + i) * stride + 4 * c0)
                                    : _mm512_maskz_loadu_epi32(wmask, base + (16 * g + i) * stride + 4 * c0);
      transpose16(col[g]);
    }
    __m512i sb[G];  // each key's dword of 4 block scales, gathered once per 4 blocks
    for (int b = c0 / 4; b < (c0 + cw) / 4; ++b) {
      __m512i lo[G][4], hi[G][4];
      __m512 ks[G];
      for (int g = 0; g < G; ++g) {
        for (int w = 0; w < 4; ++w) {
          const __m512i x = col[g][4 * b + w - c0];
          lo[g][w] = _mm512_shuffle_epi8(lut, _mm512_and_si512(x, nib));
          hi[g][w] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi32(x, 4), nib));
        }
        if (b % 4 == 0 || b == c0 / 4)
          sb[g] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lanes[g],
                                              _mm512_add_epi32(off, _mm512_set1_epi32(dim / 2 + b / 4 * 4)),
                                              base + 16 * g * stride, 1);
        const __m512i e = _mm512_and_si512(_mm512_srli_epi32(sb[g], 8 * (b % 4)), _mm512_set1_epi32(0xff));
        ks[g] = _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
      }
      for (int h = 0; h < q.heads; ++h) {
        __m512i qe[4], qo[4];
        for (int w = 0; w < 4; ++w) {
          qe[w] = _mm512_set1_epi32(q.even[h][4 * b + w]);
          qo[w] = _mm512_set1_epi32(q.odd[h][4 * b + w]);
        }
        const __m512i corr = _mm512_set1_epi32(q.corr[h][b]);
        const __m512 qs = _mm512_set1_ps(q.scale[h][b]);
        for (int g = 0; g < G; ++g) {
          __m512i even = corr, odd = _mm512_setzero_si512();  // two chains: half the latency
          for (int w = 0; w < 4; ++w) {
            even = _mm512_dpbusd_epi32(even, lo[g][w], qe[w]);
            odd = _mm512_dpbusd_epi32(odd, hi[g][w], qo[w]);
          }
          const __m512i acc = _mm512_add_epi32(even, odd);
          total[h][g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(ks[g], qs), total[h][g]);
        }
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    if (!lanes[g]) continue;
    __m512 s = _mm512_setzero_ps();
    for (int h = 0; h < q.heads; ++h)
      s = _mm512_fmadd_ps(_mm512_set1_ps(head_w[h]), _mm512_max_ps(total[h][g], _mm512_setzero_ps()), s);
    _mm512_mask_storeu_ps(out + 16 * g, lanes[g], s);
  }
}

}  // namespace
}  // namespace whalebox::model
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace whalebox::model {
namespace {

// 8 rows of 8 dwords -> 8 columns (out[k] lane i = row i dword k).
inline void transpose8(__m256i r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(_mm256_castsi256_ps(r[2 * i]), _mm256_castsi256_ps(r[2 * i + 1]));
    t[2 * i + 1] = _mm256_unpackhi_ps(_mm256_castsi256_ps(r[2 * i]), _mm256_castsi256_ps(r[2 * i + 1]));
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm256_castps_si256(_mm256_permute2f128_ps(u[k], u[4 + k], 0x20));
    r[4 + k] = _mm256_castps_si256(_mm256_permute2f128_ps(u[k], u[4 + k], 0x31));
  }
}

// The AVX2 counterpart of score32: keys [j0, j0 + m) (m <= 16, one page) in two groups of 8
// lanes, 8 dwords (64 dims, two blocks) loaded per key at a time (dim a multiple of 64, as in
// every valid config: index_head_dim is a power of two above qk_rope_head_dim). Scale bytes are
// read one per key (a gather is slow on AVX2 CPUs, and a dword would read past the entry).
void score16(const uint8_t* base, int64_t stride, int m, const QueryCodes& q, const float* head_w, float* out) {
  constexpr int G = 2;
  const __m256i lut = _mm256_broadcastsi128_si256(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
  const __m256i nib = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  const int dim = q.dim, words = dim / 8;
  __m256 total[kMaxHeads][G];
  for (int h = 0; h < q.heads; ++h)
    for (int g = 0; g < G; ++g) total[h][g] = _mm256_setzero_ps();
  for (int c0 = 0; c0 < words; c0 += 8) {  // words % 8 == 0 (dim % 64 == 0)
    __m256i col[G][8];
    for (int g = 0; g < G; ++g) {
      for (int i = 0; i < 8; ++i)
        col[g][i] = 8 * g + i >= m ? _mm256_setzero_si256()
                                   : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + (8 * g + i) * stride + 4 * c0));
      transpose8(col[g]);
    }
    for (int b = c0 / 4; b < c0 / 4 + 2; ++b) {
      __m256i lo[G][4], hi[G][4];
      __m256 ks[G];
      for (int g = 0; g < G; ++g) {
        for (int w = 0; w < 4; ++w) {
          const __m256i x = col[g][4 * b + w - c0];
          lo[g][w] = _mm256_shuffle_epi8(lut, _mm256_and_si256(x, nib));
          hi[g][w] = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi32(x, 4), nib));
        }
        int e[8];
        for (int i = 0; i < 8; ++i) e[i] = 8 * g + i < m ? base[(8 * g + i) * stride + dim / 2 + b] : 0;
        ks[g] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(e)), 23));
      }
      for (int h = 0; h < q.heads; ++h) {
        __m256i qe[4], qo[4];
        for (int w = 0; w < 4; ++w) {
          qe[w] = _mm256_set1_epi32(q.even[h][4 * b + w]);
          qo[w] = _mm256_set1_epi32(q.odd[h][4 * b + w]);
        }
        const __m256i corr = _mm256_set1_epi32(q.corr[h][b]);
        const __m256 qs = _mm256_set1_ps(q.scale[h][b]);
        for (int g = 0; g < G; ++g) {
          __m256i pairs = _mm256_setzero_si256();
          for (int w = 0; w < 4; ++w) {
            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(lo[g][w], qe[w]));
            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(hi[g][w], qo[w]));
          }
          const __m256i acc = _mm256_add_epi32(corr, _mm256_madd_epi16(pairs, ones));
          total[h][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(ks[g], qs), total[h][g]);
        }
      }
    }
  }
  for (int g = 0; g < G && 8 * g < m; ++g) {
    __m256 s = _mm256_setzero_ps();
    for (int h = 0; h < q.heads; ++h)
      s = _mm256_fmadd_ps(_mm256_set1_ps(head_w[h]), _mm256_max_ps(total[h][g], _mm256_setzero_ps()), s);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, s);
    for (int i = 0; i < 8 && 8 * g + i < m; ++i) out[8 * g + i] = lanes[i];
  }
}

}  // namespace
}  // namespace whalebox::model
#pragma GCC pop_options

namespace whalebox::model {

namespace {

// The kernel for this CPU (and WHALEBOX_ISA): keys per call and the function, or none.
struct ScoreKernel {
  int keys = 0;
  void (*score)(const uint8_t*, int64_t, int, const QueryCodes&, const float*, float*) = nullptr;
};

ScoreKernel score_kernel() {
  static const bool vnni = cpu_allows("avx512f") && cpu_allows("avx512bw") && cpu_allows("avx512vnni");
  if (vnni && active_isa() == Isa::Avx512) return {32, score32};
  if (active_isa() != Isa::Scalar) return {16, score16};
  return {};
}

}  // namespace

bool indexer_scores_int8(const Config& c, const PagedEntries& keys, int64_t n, const uint8_t* q, const float* head_w,
                         float* scores) {
  const int dim = c.index_head_dim, heads = c.index_n_heads;
  const ScoreKernel k = score_kernel();
  if (!k.score || heads > kMaxHeads || dim % (k.keys == 16 ? 64 : 32) || dim / 8 > kMaxWords) return false;
  static_assert(PagedEntries::kPageEntries % 32 == 0, "key groups stay within a page");
  auto codes = std::make_unique<QueryCodes>();
  prepare(q, heads, dim, keys.entry_bytes(), *codes);
  const int64_t groups = (n + k.keys - 1) / k.keys;
  parallel_for(groups, 1024 / k.keys, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t j0 = g * k.keys;
      // Keys stream from memory once per token (17 MB per layer at 1M tokens, V4-Flash-like
      // bench): fetch the group after next now, so its loads do not stall the dot products.
      if (g + 2 < g1)
        prefetch_bytes(keys.at(j0 + 2 * k.keys), std::min<int64_t>(k.keys, n - j0 - 2 * k.keys) * keys.entry_bytes());
      k.score(keys.at(j0), keys.entry_bytes(), int(std::min<int64_t>(k.keys, n - j0)), *codes, head_w, scores + j0);
    }
  });
  return true;
}

}  // namespace whalebox::model
