#pragma once
// Number formats of V4 checkpoints and caches (spec §13): BF16, FP8 e4m3fn, E8M0 scales,
// FP4 e2m1, and the "simulation" roundings the reference applies to activations and KV.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace whalebox::model {

inline float bf16_to_float(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round-to-nearest-even, NaN kept quiet.
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float round_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }

// e -> 2^(e-127); 255 is NaN.
inline float e8m0_to_float(uint8_t e) {
  if (e == 255) return NAN;
  if (e == 0) return 0x1p-127f;
  uint32_t u = uint32_t(e) << 23;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Exponent byte of a power of two (the scale must be a power of two in [2^-127, 2^127]).
inline uint8_t float_to_e8m0(float pow2) {
  int e;
  std::frexp(pow2, &e);
  int v = e - 1 + 127;
  return uint8_t(v < 0 ? 0 : v > 254 ? 254 : v);
}

// Lookup table for all 256 e4m3fn codes. 0x7f/0xff (NaN in e4m3fn) decode as +-480 here;
// float_to_fp8 never produces them.
struct Fp8Table {
  float v[256];
  constexpr Fp8Table() : v() {
    for (int b = 0; b < 256; ++b) {
      int exp = (b >> 3) & 15, man = b & 7;
      float x = exp == 0 ? float(man) / 8.0f : 1.0f + float(man) / 8.0f;
      for (int e = exp == 0 ? -6 : exp - 7; e > 0; --e) x *= 2.0f;
      for (int e = exp == 0 ? -6 : exp - 7; e < 0; ++e) x *= 0.5f;
      v[b] = (b & 0x80) ? -x : x;
    }
  }
};
inline constexpr Fp8Table kFp8Table{};
inline float fp8_to_float(uint8_t b) { return kFp8Table.v[b]; }
// Round-to-nearest-even onto e4m3fn, saturating to +-448.
uint8_t float_to_fp8(float f);

// FP4 e2m1: sign bit 3, magnitudes {0, .5, 1, 1.5, 2, 3, 4, 6}.
extern const float kFp4Table[16];
inline float fp4_to_float(uint8_t nibble) { return kFp4Table[nibble & 15]; }
uint8_t float_to_fp4(float f);  // RNE, saturating to +-6

// Power-of-two scale 2^ceil(log2(amax / qmax)) with amax floored at `floor` (spec §13.2/13.3).
float pow2_scale(float amax, float qmax, float floor);

// In-place simulations (values stay float): FP8 per `block` values (KV nope dims: 64; GEMM
// inputs: 128) and FP4 per 32 values (indexer q/k).
void fp8_simulate(float* x, int n, int block);
void fp4_simulate(float* x, int n);
// Orthonormal Walsh-Hadamard transform (Sylvester order), n a power of two.
void hadamard(float* x, int n);

}  // namespace whalebox::model
