#include "model/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace whalebox::model {

const float kFp4Table[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};

// Round to nearest, ties to even, on the float's bits. Below the smallest normal the code is
// |f| in units of the smallest subnormal, rounded (it runs on into the first normal code);
// above, the mantissa is rounded to the format's bits and a carry moves into the exponent, which
// is then rebiased. Equal to searching the code table for the nearest value (tests check it).
namespace {

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The code of magnitude a (finite, below the format's maximum) in a format with `kept` mantissa
// bits and exponent bias `bias`; its smallest subnormal is 2^(1 - bias - kept).
template <int kept, int bias>
inline int round_magnitude(float a) {
  constexpr float smallest_subnormal = 1.0f / float(1 << (bias + kept - 1));
  if (a < smallest_subnormal * float(1 << kept)) return int(std::nearbyint(a / smallest_subnormal));
  const uint32_t drop = 23 - kept, u = bits_of(a);
  const uint32_t r = u + ((1u << (drop - 1)) - 1) + ((u >> drop) & 1);
  return int((r >> drop) - (uint32_t(127 - bias) << kept));
}

}  // namespace

uint8_t float_to_fp8(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  return sign | uint8_t(round_magnitude<3, 7>(a));
}

uint8_t float_to_fp4(float f) {
  const uint8_t sign = std::signbit(f) ? 8 : 0;
  const float a = std::fabs(f);
  if (!(a == a)) return 0;
  if (a >= 6.0f) return sign | 7;
  return sign | uint8_t(round_magnitude<1, 1>(a));
}

float pow2_scale(float amax, float qmax, float floor) {
  amax = std::max(amax, floor);
  int e;
  float m = std::frexp(amax / qmax, &e);  // exact ceil(log2): m in [0.5, 1)
  return std::ldexp(1.0f, m == 0.5f ? e - 1 : e);
}

void fp8_simulate(float* x, int n, int block) {
  for (int b = 0; b < n; b += block) {
    int e = std::min(n, b + block);
    float amax = 0;
    for (int i = b; i < e; ++i) amax = std::max(amax, std::fabs(x[i]));
    float s = pow2_scale(amax, 448.0f, 1e-4f);
    for (int i = b; i < e; ++i) x[i] = fp8_to_float(float_to_fp8(std::clamp(x[i] / s, -448.0f, 448.0f))) * s;
  }
}

void fp4_simulate(float* x, int n) {
  for (int b = 0; b < n; b += 32) {
    int e = std::min(n, b + 32);
    float amax = 0;
    for (int i = b; i < e; ++i) amax = std::max(amax, std::fabs(x[i]));
    float s = pow2_scale(amax, 6.0f, 6.0f * 0x1p-126f);
    for (int i = b; i < e; ++i) x[i] = fp4_to_float(float_to_fp4(std::clamp(x[i] / s, -6.0f, 6.0f))) * s;
  }
}

void hadamard(float* x, int n) {
  for (int h = 1; h < n; h *= 2)
    for (int i = 0; i < n; i += 2 * h)
      for (int j = i; j < i + h; ++j) {
        float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
  float s = 1.0f / std::sqrt(float(n));
  for (int i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace whalebox::model
