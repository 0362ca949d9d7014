// The SIMD kernels agree with the scalar reference on every weight format.
#include <gtest/gtest.h>

#include <random>

#include "model/kernels.h"
#include "model/quant.h"
#include "model/thread_pool.h"
#include "test_util.h"

using namespace whalebox::model;

namespace {

struct Owned {
  std::vector<uint8_t> data, scale;
  Weight w;
};

// Random weight of the given format; FP8 with 128x128 E8M0 blocks, FP4 with 1x32 E8M0 blocks.
Owned random_weight(WeightFormat f, int64_t rows, int64_t cols, std::mt19937& rng, bool f32_scale = false) {
  Owned o;
  std::normal_distribution<float> nd(0, 1);
  o.w.format = f;
  o.w.rows = rows;
  o.w.cols = cols;
  o.data.resize(o.w.row_bytes() * rows);
  for (int64_t i = 0; i < int64_t(o.data.size()); ++i) {
    if (f == WeightFormat::F32 && i % 4 == 0) {
      float v = nd(rng);
      std::memcpy(&o.data[i], &v, 4);
    } else if (f == WeightFormat::BF16 && i % 2 == 0) {
      uint16_t b = float_to_bf16(nd(rng));
      std::memcpy(&o.data[i], &b, 2);
    } else if (f == WeightFormat::FP8) {
      o.data[i] = float_to_fp8(nd(rng) * 50);
    } else if (f == WeightFormat::FP4) {
      o.data[i] = uint8_t(rng());
    }
  }
  if (f == WeightFormat::FP8 || f == WeightFormat::FP4) {
    o.w.block_rows = f == WeightFormat::FP8 ? 128 : 1;
    o.w.block_cols = f == WeightFormat::FP8 ? 128 : 32;
    int64_t sr = (rows + o.w.block_rows - 1) / o.w.block_rows;
    o.w.scale_cols = (cols + o.w.block_cols - 1) / o.w.block_cols;
    o.w.scale_is_f32 = f32_scale;
    o.scale.resize(sr * o.w.scale_cols * (f32_scale ? 4 : 1));
    for (int64_t i = 0; i < sr * o.w.scale_cols; ++i) {
      int e = 120 + int(rng() % 10);
      if (f32_scale) {
        float v = std::ldexp(1.0f + float(rng() % 100) / 100.0f, e - 127);
        std::memcpy(&o.scale[i * 4], &v, 4);
      } else {
        o.scale[i] = uint8_t(e);
      }
    }
    o.w.scale = o.scale.data();
  }
  o.w.data = o.data.data();
  return o;
}

std::string format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return "F32";
    case WeightFormat::BF16: return "BF16";
    case WeightFormat::FP8: return "FP8";
    case WeightFormat::FP4: return "FP4";
  }
  return "";
}

class Kernels : public ::testing::TestWithParam<WeightFormat> {};

}  // namespace

TEST_P(Kernels, SimdMatchesScalar) {
  std::mt19937 rng(42);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 256}, {130, 320}, {5, 64}, {300, 4096}}) {
    auto o = random_weight(GetParam(), rows, cols, rng);
    std::vector<float> x(cols);
    std::normal_distribution<float> nd(0, 1);
    for (auto& v : x) v = nd(rng);
    set_isa(Isa::Scalar);
    std::vector<float> ref(rows), X(3 * cols), ref3(3 * rows);
    gemv(o.w, x.data(), ref.data());
    for (auto& v : X) v = nd(rng);
    gemm(o.w, X.data(), 3, ref3.data());
    // Scalar reference itself: spot-check against an explicit sum.
    double direct = 0;
    for (int64_t c = 0; c < cols; ++c) {
      float wv;
      const uint8_t* row = o.w.data;
      switch (o.w.format) {
        case WeightFormat::F32: wv = reinterpret_cast<const float*>(row)[c]; break;
        case WeightFormat::BF16: wv = bf16_to_float(reinterpret_cast<const uint16_t*>(row)[c]); break;
        case WeightFormat::FP8: wv = fp8_to_float(row[c]); break;
        default: wv = fp4_to_float(c % 2 ? row[c / 2] >> 4 : row[c / 2] & 15); break;
      }
      direct += double(wv) * o.w.scale_at(0, c) * x[c];
    }
    EXPECT_NEAR(ref[0], direct, 1e-3 * (1 + std::fabs(direct)));
    for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
      if (int(isa) > int(best_isa())) {
        std::printf("skipping %s: not supported by this CPU\n", isa_name(isa));
        continue;
      }
      set_isa(isa);
      std::vector<float> y(rows), y3(3 * rows);
      gemv(o.w, x.data(), y.data());
      gemm(o.w, X.data(), 3, y3.data());
      // FP32 sums in a different order: allow rounding that grows with the row length.
      const double tol = 1e-6 * double(cols);
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_NEAR(y[r], ref[r], tol * (1 + std::fabs(ref[r]))) << isa_name(isa) << " row " << r << " " << rows << "x" << cols;
      for (int64_t i = 0; i < 3 * rows; ++i)
        ASSERT_NEAR(y3[i], ref3[i], tol * (1 + std::fabs(ref3[i]))) << isa_name(isa) << " gemm " << i;
    }
    set_isa(best_isa());
  }
}

// Fast mode: BF16 inputs times weights widened to BF16 in registers, against the double-precision
// reference of the same product; one token at a time gives bit-identical results to many.
TEST_P(Kernels, Bf16PathMatchesReferenceAndIsIncremental) {
  if (!bf16_kernels() || best_isa() != Isa::Avx512) GTEST_SKIP() << "CPU lacks AVX-512 BF16/VBMI: fast mode uses FP32";
  std::mt19937 rng(7);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 256}, {130, 320}, {5, 64}, {300, 4096}}) {
    auto o = random_weight(GetParam(), rows, cols, rng);
    o.w.bf16_exact = widens_exactly_to_bf16(o.w);
    if (GetParam() == WeightFormat::F32) {
      EXPECT_FALSE(o.w.bf16_exact);  // F32 weights keep the FP32 path
      continue;
    }
    ASSERT_TRUE(o.w.bf16_exact);
    std::vector<float> X;
    std::vector<float> Y;
    // Two tokens (widened in registers), and two tiles of 6 tokens with a remainder of 1..5.
    for (int64_t n : {2, 13, 14, 15, 16, 17}) {
      X.assign(size_t(n * cols), 0.0f);
      Y.assign(size_t(n * rows), 0.0f);
      std::vector<float> ref(size_t(n * rows)), y(static_cast<size_t>(rows));
      std::normal_distribution<float> nd(0, 1);
      for (auto& v : X) v = nd(rng);
      gemm_bf16_reference(o.w, X.data(), n, ref.data());
      gemm(o.w, X.data(), n, Y.data(), Inputs::BF16);
      double scale = 0;
      for (float v : ref) scale = std::max<double>(scale, std::fabs(v));
      for (int64_t i = 0; i < n * rows; ++i)
        ASSERT_NEAR(Y[size_t(i)], ref[size_t(i)], 2e-6 * scale) << rows << "x" << cols << " at " << i;
      for (int64_t t = 0; t < n; ++t) {
        gemv(o.w, &X[size_t(t * cols)], y.data(), Inputs::BF16);
        for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(y[size_t(r)], Y[size_t(t * rows + r)]) << "token " << t << " row " << r;
      }
    }
    // The inputs really are rounded: the FP32 path differs somewhere.
    std::vector<float> f(static_cast<size_t>(rows));
    gemv(o.w, X.data(), f.data());
    bool differs = false;
    for (int64_t r = 0; r < rows; ++r) differs |= f[size_t(r)] != Y[size_t(r)];
    EXPECT_TRUE(differs);
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, Kernels,
                         ::testing::Values(WeightFormat::F32, WeightFormat::BF16, WeightFormat::FP8, WeightFormat::FP4),
                         [](const auto& info) { return format_name(info.param); });

TEST(KernelsMisc, F32ScalesAndOddWidthsFallBackCorrectly) {
  std::mt19937 rng(3);
  auto o = random_weight(WeightFormat::FP8, 200, 200, rng, true);  // 200 % 32 != 0 -> scalar path
  std::vector<float> x(200, 0.5f), y(200), ref(200);
  set_isa(Isa::Scalar);
  gemv(o.w, x.data(), ref.data());
  set_isa(best_isa());
  gemv(o.w, x.data(), y.data());
  for (int i = 0; i < 200; ++i) EXPECT_FLOAT_EQ(y[i], ref[i]);
  auto p = random_weight(WeightFormat::FP8, 64, 256, rng, true);
  std::vector<float> x2(256, 0.25f), y2(64), r2(64);
  set_isa(Isa::Scalar);
  gemv(p.w, x2.data(), r2.data());
  set_isa(best_isa());
  gemv(p.w, x2.data(), y2.data());
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(y2[i], r2[i], 1e-4 * (1 + std::fabs(r2[i])));
}

// Every e4m3 code (subnormals, zeros of both signs, 0x7f) under the extreme scales the BF16 path
// accepts, and scales outside them sending the weight to the FP32 path.
TEST(KernelsMisc, Bf16WideningOfEveryFp8CodeAndScaleLimits) {
  if (!bf16_kernels() || best_isa() != Isa::Avx512) GTEST_SKIP() << "CPU lacks AVX-512 BF16/VBMI: fast mode uses FP32";
  std::vector<uint8_t> data(2 * 256), scale = {10, 240};
  for (int i = 0; i < 512; ++i) data[size_t(i)] = uint8_t(i < 256 ? i : 511 - i);
  Weight w;
  w.format = WeightFormat::FP8;
  w.rows = 2, w.cols = 256, w.data = data.data(), w.scale = scale.data();
  w.block_rows = 128, w.block_cols = 128, w.scale_cols = 2;
  ASSERT_TRUE(widens_exactly_to_bf16(w));
  w.bf16_exact = true;
  for (int c = 0; c < 256; ++c) {
    // One-hot inputs read single weights back: the widening must equal the table decode.
    std::vector<float> x(256, 0.0f), y(2), ref(2);
    x[size_t(c)] = 1.0f;
    gemv(w, x.data(), y.data(), Inputs::BF16);
    gemm_bf16_reference(w, x.data(), 1, ref.data());
    ASSERT_EQ(y[0], ref[0]) << "code " << c;
    ASSERT_EQ(y[1], ref[1]) << "code " << 255 - c;
    EXPECT_EQ(ref[0], fp8_to_float(uint8_t(c)) * w.scale_at(0, c)) << c;
  }
  scale[0] = 9;
  EXPECT_FALSE(widens_exactly_to_bf16(w));
  scale[0] = 241;
  EXPECT_FALSE(widens_exactly_to_bf16(w));
}

// KV entry decode (e4m3 under E8M0 scales per 64, all 256 codes and the extreme scale bytes).
TEST(KernelsMisc, Fp8BlockDecodeMatchesScalar) {
  std::vector<uint8_t> in(512), scales = {0, 1, 120, 127, 134, 200, 254, 127};
  for (int i = 0; i < 512; ++i) in[size_t(i)] = uint8_t(i * 7);
  std::vector<float> ref(512), out(512);
  for (int i = 0; i < 512; ++i) ref[size_t(i)] = fp8_to_float(in[size_t(i)]) * e8m0_to_float(scales[size_t(i / 64)]);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (int(isa) > int(best_isa())) continue;
    set_isa(isa);
    fp8_decode_blocks64(in.data(), 512, scales.data(), out.data());
    for (int i = 0; i < 512; ++i) ASSERT_EQ(out[size_t(i)], ref[size_t(i)]) << isa_name(isa) << " " << i;
  }
  set_isa(best_isa());
}

// Attention chunk kernels (q.K scores, P.V accumulation) against the scalar path, with head and
// key counts that exercise the blocked bodies and their remainders.
TEST(KernelsMisc, AttentionChunkKernelsMatchScalar) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0, 1);
  for (auto [H, hd, n] : {std::tuple{16, 512, 64}, {5, 96, 7}, {3, 48, 1}}) {
    std::vector<float> q(size_t(H * hd)), k(size_t(n * hd)), p(size_t(H * n));
    for (auto& v : q) v = nd(rng);
    for (auto& v : k) v = nd(rng);
    for (auto& v : p) v = std::fabs(nd(rng));
    std::vector<float> ref_s(size_t(H * n)), ref_a(size_t(H * hd), 0.5f);
    set_isa(Isa::Scalar);
    attn_scores(q.data(), k.data(), n, H, hd, 0.125f, ref_s.data());
    attn_pv(p.data(), k.data(), n, H, hd, ref_a.data());
    for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
      if (int(isa) > int(best_isa())) continue;
      set_isa(isa);
      std::vector<float> sc(size_t(H * n)), acc(size_t(H * hd), 0.5f);
      attn_scores(q.data(), k.data(), n, H, hd, 0.125f, sc.data());
      attn_pv(p.data(), k.data(), n, H, hd, acc.data());
      for (size_t i = 0; i < sc.size(); ++i) ASSERT_NEAR(sc[i], ref_s[i], 1e-4 * (1 + std::fabs(ref_s[i]))) << isa_name(isa) << " score " << i;
      for (size_t i = 0; i < acc.size(); ++i) ASSERT_NEAR(acc[i], ref_a[i], 1e-4 * (1 + std::fabs(ref_a[i]))) << isa_name(isa) << " acc " << i;
    }
    set_isa(best_isa());
  }
}

TEST(KernelsMisc, DotAxpyAndThreadPool) {
  std::vector<float> a(1000), b(1000);
  for (int i = 0; i < 1000; ++i) a[i] = float(i % 7) - 3, b[i] = float(i % 5) * 0.5f;
  double ref = 0;
  for (int i = 0; i < 1000; ++i) ref += a[i] * b[i];
  EXPECT_NEAR(dot(a.data(), b.data(), 1000), ref, 1e-3);
  axpy(a.data(), 2.0f, b.data(), 1000);
  EXPECT_FLOAT_EQ(a[999], float(999 % 7) - 3 + 2 * float(999 % 5) * 0.5f);
  std::vector<int> hit(10000, 0);
  parallel_for(10000, 1, [&](int64_t b0, int64_t e) {
    for (int64_t i = b0; i < e; ++i) hit[i]++;
  });
  for (int h : hit) ASSERT_EQ(h, 1);
  EXPECT_GE(thread_count(), 1);
}
