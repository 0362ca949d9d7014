#pragma once
// Matrix-vector (decode) and matrix-matrix (prefill) products directly on FP8/FP4/BF16/F32
// weights, dequantised in registers. Three instruction-set paths chosen at run time: a scalar
// reference, AVX2+FMA+F16C and AVX-512 (with BF16 dot products for BF16 GEMMs). Rows are split over
// the thread pool.
#include <cstdint>

#include "model/tensor.h"

namespace whalebox::model {

// Asks for the cache lines of [p, p + bytes) ahead of their use (memory streamed at long
// contexts: KV entries, indexer keys).
inline void prefetch_bytes(const void* p, int64_t bytes) {
  for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(static_cast<const char*>(p) + off);
}

// Decode GEMVs prefetch each line of their 4 rows this many bytes ahead (whole 4-row blocks, at
// least 4 KB: the best distance measured for every format; 8 KB was slower for FP8, 2 KB for
// FP4), into L2: rows are a page or more apart at V4 widths and the hardware prefetcher stops at
// pages (streamed FP8 weights: 1.6-2x faster than without). Not into L1 (T0): such a prefetch
// holds one of the core's few L1 miss buffers until its line arrives, and streaming was 5-15 %
// slower with it (1024- and 4096-row GEMVs of all three formats, 2 threads, from DRAM).
inline int64_t weight_prefetch_distance(const Weight& w) {
  const int64_t rb = int64_t(w.row_bytes()), blocks = (4096 + 4 * rb - 1) / (4 * rb);
  return (blocks > 1 ? blocks : 1) * 4 * rb;
}

enum class Isa { Scalar, Avx2, Avx512 };
const char* isa_name(Isa isa);
// Whether the CPU has an instruction-set extension ("avx2", "avx512bf16", ...) and the
// environment allows it. WHALEBOX_ISA caps what the kernels may use, so that one machine can
// reproduce what another CPU computes: a level (scalar, avx2, avx512 = F/BW/VL without the BF16,
// VNNI and VBMI extensions, native) and features to mask, comma-separated
// ("native,-avx512bf16" is a Cascade Lake). Read once; unknown items are reported on stderr.
bool cpu_allows(const char* feature);
Isa best_isa();          // what this CPU supports (within WHALEBOX_ISA)
Isa active_isa();        // what the kernels use now
void set_isa(Isa isa);   // tests and benchmarks; clamps to best_isa()

// How a linear's inputs enter the product. F32: exact and plain modes. BF16: fast mode, inputs
// rounded to BF16 and multiplied by weights widened exactly to BF16 with BF16 dot products
// (where the CPU has AVX-512 BF16 and the weight widens exactly; FP32 otherwise).
enum class Inputs : uint8_t { F32, BF16 };

// y[r] = sum_c W[r, c] * x[c] for all rows (FP32 accumulation).
void gemv(const Weight& w, const float* x, float* y, Inputs in = Inputs::F32);
// Y[t, r] = sum_c W[r, c] * X[t, c] for n tokens (X row stride = w.cols, Y row stride = w.rows).
void gemm(const Weight& w, const float* X, int64_t n, float* Y, Inputs in = Inputs::F32);

// Several independent products as one pool job: a decode step runs dozens of small ones per
// layer, and each job costs a hand-off to the other threads. Every output is the same as from
// gemm() on its own.
struct GemmCall {
  const Weight* w;
  const float* X;  // [n, w->cols]
  int64_t n;
  float* Y;  // [n, w->rows]
};
void gemm_batch(const GemmCall* calls, size_t count, Inputs in = Inputs::F32);

// Whether w widens exactly to BF16: BF16, or FP8/FP4 with E8M0 scales in [10, 240] (so every
// scaled value stays a normal BF16) and 32-multiple widths. Checked once when binding.
bool widens_exactly_to_bf16(const Weight& w);
// What the BF16 path computes, in double: sum_c bf16(x[c]) * W[r, c] (tests).
void gemm_bf16_reference(const Weight& w, const float* X, int64_t n, float* Y);

// Vector helpers used by attention and the indexer (same dispatch).
float dot(const float* a, const float* b, int64_t n);
void axpy(float* y, float a, const float* x, int64_t n);  // y += a * x
void fp8_decode(const uint8_t* in, int64_t n, float scale, float* out);  // out = e4m3(in) * scale
// One KV entry's nope dims: e4m3 values under one E8M0 scale per 64.
void fp8_decode_blocks64(const uint8_t* in, int64_t n, const uint8_t* scales, float* out);
// Attention over a decoded chunk of n keys k [n, hd] for H heads q [H, hd]:
// sc[h * n + u] = scale * q_h . k_u, and acc[h, :] += sum_u p[h * n + u] * k_u.
void attn_scores(const float* q, const float* k, int64_t n, int H, int hd, float scale, float* sc);
void attn_pv(const float* p, const float* k, int64_t n, int H, int hd, float* acc);

// Dispatch table filled per ISA; internal, shared by the kernels_*.cc files.
struct KernelTable {
  // Rows [r0, r1) for tokens [0, n); X prepared per token by prepare_x (FP4 wants each
  // 32-block split even/odd). GEMV is n = 1.
  void (*gemm_rows)(const Weight& w, const float* Xp, int64_t n, float* Y, int64_t r0, int64_t r1);
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float* y, float a, const float* x, int64_t n);
  // out[i] = e4m3(in[i]) * scale, n a multiple of 16 (KV entries, decoded per key by attention).
  void (*fp8_decode)(const uint8_t* in, int64_t n, float scale, float* out);
  // out[i] = e4m3(in[i]) * 2^(scales[i / 64] - 127), n a multiple of 64 (KV nope dims).
  void (*fp8_decode_blocks64)(const uint8_t* in, int64_t n, const uint8_t* scales, float* out);
  void (*attn_scores)(const float* q, const float* k, int64_t n, int H, int hd, float scale, float* sc);
  void (*attn_pv)(const float* p, const float* k, int64_t n, int H, int hd, float* acc);
};
const KernelTable& scalar_kernels();
// The BF16 path (kernels_bf16.cc); nullptr without AVX-512 BF16 + VBMI.
struct Bf16Kernels {
  // Rows [r0, r1) for n tokens of inputs already rounded to BF16 ([n, w.cols]).
  void (*rows)(const Weight& w, const uint16_t* Xb, int64_t n, float* Y, int64_t r0, int64_t r1);
  void (*round_inputs)(const float* X, int64_t count, uint16_t* out);
  // Rounded inputs of an FP4 row put in the order its widening yields, in place: per 64 columns
  // (two scale blocks), the even columns of both blocks, then the odd ones. count % 64 == 0.
  void (*fp4_input_order)(uint16_t* x, int64_t count);
  // A production KV entry (nope e4m3 dims under one E8M0 scale per 64, then BF16 rope dims, then
  // the scales) widened to BF16, exactly where the scale keeps values normal ([10, 240]),
  // otherwise rounded from the FP32 decode. nope a multiple of 64, rope of 32.
  void (*kv_entry)(const uint8_t* in, int nope, int rope, uint16_t* out);
  // Fast-mode attention on a chunk of n BF16 keys kb [n, hd]: the key pairs interleaved
  // kp [n2 / 2, hd, 2] for P.V (n2 = n rounded up to even, a missing odd key zero).
  // hd a multiple of 32.
  void (*attn_key_pairs)(const uint16_t* kb, int64_t n, int hd, uint16_t* kp);
  // sc[h * n + u] = scale * sum_d qb[h, d] * kb[u, d] (VDPBF16PS, FP32 accumulation).
  void (*attn_scores)(const uint16_t* qb, const uint16_t* kb, int64_t n, int H, int hd, float scale, float* sc);
  // One chunk's online-softmax step per head: m[h] raised to the chunk's highest score (l[h]
  // and acc[h, :] rescaled by e^(old - new)), pb[h * n2 + u] = BF16(e^(sc[h * n + u] - m[h]))
  // (a padding key u = n zero), and the rounded probabilities added to l[h].
  void (*attn_softmax)(const float* sc, int64_t n, int H, int hd, float* m, float* l, float* acc, uint16_t* pb,
                       int64_t n2);
  // acc[h, :] += sum_u pb[h * n2 + u] * k_u over the n2 (even) keys of kp.
  void (*attn_pv)(const uint16_t* pb, const uint16_t* kp, int64_t n2, int H, int hd, float* acc);
};
// What the BF16 attention kernels compute, in double (tests).
void attn_scores_bf16_reference(const uint16_t* qb, const uint16_t* kb, int64_t n, int H, int hd, float scale, float* sc);
void attn_pv_bf16_reference(const uint16_t* pb, const uint16_t* kb, int64_t n, int64_t n2, int H, int hd, float* acc);
const Bf16Kernels* bf16_kernels();
const KernelTable* avx2_kernels();    // nullptr when not compiled in
const KernelTable* avx512_kernels();  // nullptr when not compiled in
// FP4 rows read x with each 32-block split as 16 even then 16 odd values.
void prepare_x(const Weight& w, const float* x, float* xp);

}  // namespace whalebox::model

namespace whalebox::model {
// One dequantised row of W (embedding lookups).
void decode_row(const Weight& w, int64_t r, float* out);
}  // namespace whalebox::model
