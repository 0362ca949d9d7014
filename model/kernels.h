#pragma once
// Matrix-vector (decode) and matrix-matrix (prefill) products directly on FP8/FP4/BF16/F32
// weights, dequantised in registers. Three instruction-set paths chosen at run time: a scalar
// reference, AVX2+FMA and AVX-512 (with BF16 dot products for BF16 GEMMs). Rows are split over
// the thread pool.
#include <cstdint>

#include "model/tensor.h"

namespace whalebox::model {

enum class Isa { Scalar, Avx2, Avx512 };
const char* isa_name(Isa isa);
Isa best_isa();          // what this CPU supports
Isa active_isa();        // what the kernels use now
void set_isa(Isa isa);   // tests and benchmarks; clamps to best_isa()

// y[r] = sum_c W[r, c] * x[c] for all rows (FP32 accumulation).
void gemv(const Weight& w, const float* x, float* y);
// Y[t, r] = sum_c W[r, c] * X[t, c] for n tokens (X row stride = w.cols, Y row stride = w.rows).
void gemm(const Weight& w, const float* X, int64_t n, float* Y);

// Vector helpers used by attention and the indexer (same dispatch).
float dot(const float* a, const float* b, int64_t n);
void axpy(float* y, float a, const float* x, int64_t n);  // y += a * x

// Dispatch table filled per ISA; internal, shared by the kernels_*.cc files.
struct KernelTable {
  // Rows [r0, r1) for tokens [0, n); X prepared per token by prepare_x (FP4 wants each
  // 32-block split even/odd). GEMV is n = 1.
  void (*gemm_rows)(const Weight& w, const float* Xp, int64_t n, float* Y, int64_t r0, int64_t r1);
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float* y, float a, const float* x, int64_t n);
};
const KernelTable& scalar_kernels();
const KernelTable* avx2_kernels();    // nullptr when not compiled in
const KernelTable* avx512_kernels();  // nullptr when not compiled in
// FP4 rows read x with each 32-block split as 16 even then 16 odd values.
void prepare_x(const Weight& w, const float* x, float* xp);

}  // namespace whalebox::model

namespace whalebox::model {
// One dequantised row of W (embedding lookups).
void decode_row(const Weight& w, int64_t r, float* out);
}  // namespace whalebox::model
