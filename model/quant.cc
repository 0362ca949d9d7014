#include "model/quant.h"

#include <algorithm>

namespace whalebox::model {

const float kFp4Table[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};

uint8_t float_to_fp8(float f) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // Search the 127 non-negative finite codes (monotone) for the nearest; ties to even code.
  int lo = 0, hi = 0x7e;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (kFp8Table.v[mid] <= a) lo = mid; else hi = mid;
  }
  float dl = a - kFp8Table.v[lo], dh = kFp8Table.v[hi] - a;
  int code = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
  return sign | uint8_t(code);
}

uint8_t float_to_fp4(float f) {
  uint8_t sign = std::signbit(f) ? 8 : 0;
  float a = std::fabs(f);
  if (!(a == a)) return 0;
  int lo = 0, hi = 7;
  if (a >= 6.0f) return sign | 7;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (kFp4Table[mid] <= a) lo = mid; else hi = mid;
  }
  float dl = a - kFp4Table[lo], dh = kFp4Table[hi] - a;
  int code = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
  return sign | uint8_t(code);
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
