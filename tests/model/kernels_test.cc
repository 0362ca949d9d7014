// The SIMD kernels agree with the scalar reference on every weight format.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "model/kernels.h"
#include "model/kv_cache.h"
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

// Decode-time GEMV decodes the weights in registers, prefill GEMM decodes rows once for many
// tokens; both must give every token the same bits, or incremental decoding would drift from a
// whole-sequence prefill. Row slices (row0 = 2) make 4-row groups straddle FP8 block rows.
TEST_P(Kernels, GemvEqualsEachTokenOfGemmBitForBit) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0, 1);
  for (bool f32_scale : {false, true})
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 256}, {262, 384}, {5, 64}}) {
      auto o = random_weight(GetParam(), rows, cols, rng, f32_scale);
      for (const Weight& w : {o.w, o.w.slice_rows(2, rows - 2)}) {
        const int64_t n = 5;
        std::vector<float> X(size_t(n * cols)), Y(size_t(n * w.rows)), y(size_t(w.rows));
        for (auto& v : X) v = nd(rng);
        for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
          if (int(isa) > int(best_isa())) continue;
          set_isa(isa);
          gemm(w, X.data(), n, Y.data());
          for (int64_t t = 0; t < n; ++t) {
            gemv(w, X.data() + t * cols, y.data());
            for (int64_t r = 0; r < w.rows; ++r)
              ASSERT_EQ(y[size_t(r)], Y[size_t(t * w.rows + r)])
                  << isa_name(isa) << " token " << t << " row " << r << " of " << w.rows << "x" << cols
                  << (f32_scale ? " f32 scales" : "") << " row0 " << w.row0;
          }
        }
        set_isa(best_isa());
      }
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

// Fast-mode attention on BF16: key pairs interleaved exactly (an odd last key padded with zero), q.K and P.V against the double-precision sums of the same BF16
// values, over head/key/dim shapes that exercise every block remainder.
TEST(KernelsMisc, Bf16AttentionChunkKernelsMatchScalar) {
  const Bf16Kernels* bk = bf16_kernels();
  if (!bk || best_isa() != Isa::Avx512) GTEST_SKIP() << "CPU lacks AVX-512 BF16/VBMI: fast-mode attention uses FP32";
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1);
  for (auto [H, hd, n] : {std::tuple{16, 512, 16}, {5, 96, 7}, {3, 32, 1}, {4, 64, 2}, {7, 160, 13}, {1, 32, 5}}) {
    const int64_t n2 = (n + 1) / 2 * 2;
    std::vector<float> q(size_t(H * hd)), k(size_t(n * hd));
    std::vector<uint16_t> qb(q.size()), kb(k.size()), kp(size_t(n2 * hd), 0xffff), pb(size_t(H * n2), 0);
    for (auto& v : q) v = nd(rng);
    for (auto& v : k) v = round_bf16(nd(rng));  // as KV entries: exactly representable
    for (size_t i = 0; i < q.size(); ++i) qb[i] = float_to_bf16(q[i]);
    for (int h = 0; h < H; ++h)
      for (int u = 0; u < n; ++u) pb[size_t(h * n2 + u)] = float_to_bf16(std::fabs(nd(rng)));
    for (size_t i = 0; i < k.size(); ++i) kb[i] = float_to_bf16(k[i]);
    bk->attn_key_pairs(kb.data(), n, hd, kp.data());
    for (int u = 0; u < n2; ++u)
      for (int d = 0; d < hd; ++d) {
        const uint16_t want = u < n ? kb[size_t(u * hd + d)] : 0;
        ASSERT_EQ(kp[size_t((u / 2) * 2 * hd + 2 * d + u % 2)], want) << "paired key " << u << " dim " << d;
      }
    std::vector<float> sc(size_t(H * n)), ref_s(sc.size()), acc(size_t(H * hd), 0.5f), ref_a(acc.size(), 0.5f);
    bk->attn_scores(qb.data(), kb.data(), n, H, hd, 0.125f, sc.data());
    attn_scores_bf16_reference(qb.data(), kb.data(), n, H, hd, 0.125f, ref_s.data());
    bk->attn_pv(pb.data(), kp.data(), n2, H, hd, acc.data());
    attn_pv_bf16_reference(pb.data(), kb.data(), n, n2, H, hd, ref_a.data());
    // FP32 accumulation of hd (or n) products of magnitude ~1: error well under 1e-5 * sqrt(terms).
    for (size_t i = 0; i < sc.size(); ++i) ASSERT_NEAR(sc[i], ref_s[i], 2e-6 * hd) << H << "x" << hd << "x" << n << " score " << i;
    for (size_t i = 0; i < acc.size(); ++i) ASSERT_NEAR(acc[i], ref_a[i], 2e-6 * (n + 1)) << H << "x" << hd << "x" << n << " acc " << i;
    // The online-softmax step: on a first chunk (running max -inf) and on a later one whose
    // max is higher (rescale) or lower, against the scalar step with std::exp.
    for (float prior : {-INFINITY, -3.0f, 40.0f}) {
      std::vector<float> m(size_t(H), prior), l(size_t(H), 2.0f), a(size_t(H * hd), 1.5f);
      std::vector<float> rm = m, rl = l, ra = a;
      std::vector<uint16_t> p(size_t(H * n2), 0xffff);
      bk->attn_softmax(sc.data(), n, H, hd, m.data(), l.data(), a.data(), p.data(), n2);
      for (int h = 0; h < H; ++h) {
        float cm = rm[size_t(h)];
        for (int u = 0; u < n; ++u) cm = std::max(cm, sc[size_t(h * n + u)]);
        if (cm > rm[size_t(h)]) {
          const float r = rm[size_t(h)] == -INFINITY ? 1.0f : std::exp(rm[size_t(h)] - cm);
          rl[size_t(h)] *= rm[size_t(h)] == -INFINITY ? 1.0f : r;
          for (int d = 0; d < hd; ++d) ra[size_t(h * hd + d)] *= r;
          rm[size_t(h)] = cm;
        }
        ASSERT_EQ(m[size_t(h)], rm[size_t(h)]);
        for (int u = 0; u < n; ++u) {
          const float want = std::exp(sc[size_t(h * n + u)] - cm), got = bf16_to_float(p[size_t(h * n2 + u)]);
          ASSERT_NEAR(got, want, want / 128) << "prior " << prior << " head " << h << " key " << u;  // BF16: 8 bits
          rl[size_t(h)] += got;
        }
        if (n2 > n) {
          ASSERT_EQ(p[size_t(h * n2 + n)], 0);
        }
        ASSERT_NEAR(l[size_t(h)], rl[size_t(h)], 1e-6f * rl[size_t(h)]);
        for (int d = 0; d < hd; ++d) ASSERT_FLOAT_EQ(a[size_t(h * hd + d)], ra[size_t(h * hd + d)]);
      }
    }
    // q really is rounded: the FP32 kernel on the FP32 q differs somewhere.
    std::vector<float> f32(sc.size());
    attn_scores(q.data(), k.data(), n, H, hd, 0.125f, f32.data());
    bool differs = false;
    for (size_t i = 0; i < sc.size(); ++i) differs |= f32[i] != sc[i];
    EXPECT_TRUE(differs);
  }
}

// KV entries widened straight to BF16 equal the FP32 decode rounded to BF16 (exactly that value
// for scales in [10, 240]): every e4m3 code, both signs, normal and edge scales, BF16 rope dims.
TEST(KernelsMisc, Bf16KvEntryWideningMatchesFp32Decode) {
  const Bf16Kernels* bk = bf16_kernels();
  if (!bk || best_isa() != Isa::Avx512) GTEST_SKIP() << "CPU lacks AVX-512 BF16/VBMI: fast-mode attention uses FP32";
  Config c;
  c.head_dim = 512 + 64, c.qk_rope_head_dim = 64;  // 8 scale blocks of 64 nope dims
  KvEntryFormat fmt(c, KvLayout::Production);
  ASSERT_EQ(fmt.nope, 512);
  const std::vector<uint8_t> scales = {10, 127, 240, 0, 9, 241, 255, 100};
  for (int rot = 0; rot < 2; ++rot) {
    std::vector<uint8_t> e(size_t(fmt.bytes));
    for (int i = 0; i < 512; ++i) e[size_t(i)] = uint8_t(i + 37 * rot);  // all 256 codes twice
    std::mt19937 rng(5 + rot);
    std::normal_distribution<float> nd(0, 3);
    for (int i = 0; i < 64; ++i) {
      const uint16_t b = float_to_bf16(nd(rng));
      std::memcpy(&e[size_t(512 + 2 * i)], &b, 2);
    }
    for (int b = 0; b < 8; ++b) e[size_t(512 + 128 + b)] = scales[size_t((b + rot) % 8)];
    std::vector<float> f(size_t(c.head_dim));
    std::vector<uint16_t> w(size_t(c.head_dim));
    fmt.decode(e.data(), f.data());
    fmt.decode_bf16(e.data(), w.data());
    for (int i = 0; i < c.head_dim; ++i) {
      const int s = i < 512 ? e[size_t(512 + 128 + i / 64)] : 127;
      if (std::isnan(f[size_t(i)])) {
        ASSERT_TRUE(std::isnan(bf16_to_float(w[size_t(i)]))) << "dim " << i;
        continue;
      }
      ASSERT_EQ(w[size_t(i)], float_to_bf16(f[size_t(i)])) << "dim " << i << " code " << int(e[size_t(i)]) << " scale " << s;
      if (s >= 10 && s <= 240) {
        ASSERT_EQ(bf16_to_float(w[size_t(i)]), f[size_t(i)]) << "dim " << i << " not exact";
      }
    }
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

// Several products as one pool job give exactly what each gives alone: mixed formats, calls
// sharing an input (rounded once), several token counts, and an F32 weight that takes the FP32 path.
TEST(KernelsMisc, GemmBatchEqualsSeparateProducts) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1);
  std::vector<Owned> ws;
  ws.push_back(random_weight(WeightFormat::FP8, 130, 256, rng));
  ws.push_back(random_weight(WeightFormat::FP4, 37, 256, rng));
  ws.push_back(random_weight(WeightFormat::BF16, 64, 320, rng));
  ws.push_back(random_weight(WeightFormat::F32, 9, 256, rng));
  ws.push_back(random_weight(WeightFormat::FP8, 300, 256, rng));
  for (auto& o : ws) o.w.bf16_exact = widens_exactly_to_bf16(o.w);
  for (Inputs in : {Inputs::BF16, Inputs::F32})
    for (int64_t n : {1, 3, 8}) {
      std::vector<float> x256(size_t(n * 256)), x320(size_t(n * 320)), other(size_t(n * 256));
      for (auto* v : {&x256, &x320, &other})
        for (auto& f : *v) f = nd(rng);
      const float* inputs[] = {x256.data(), x256.data(), x320.data(), x256.data(), other.data()};
      std::vector<std::vector<float>> alone(ws.size()), batched(ws.size());
      std::vector<GemmCall> calls;
      for (size_t i = 0; i < ws.size(); ++i) {
        alone[i].assign(size_t(n * ws[i].w.rows), 0.0f);
        batched[i].assign(size_t(n * ws[i].w.rows), -1.0f);
        gemm(ws[i].w, inputs[i], n, alone[i].data(), in);
        calls.push_back({&ws[i].w, inputs[i], n, batched[i].data()});
      }
      gemm_batch(calls.data(), calls.size(), in);
      for (size_t i = 0; i < ws.size(); ++i)
        for (size_t j = 0; j < alone[i].size(); ++j)
          ASSERT_EQ(batched[i][j], alone[i][j]) << "call " << i << " n " << n << " at " << j;
    }
}
