// safetensors: valid single/sharded files load in place; bad files give errors naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <vector>

#include "model/quant.h"
#include "model/safetensors.h"
#include "test_util.h"

using namespace whalebox::model;
using whalebox::model::testing::error_of;
using whalebox::model::testing::temp_dir;
using ::testing::HasSubstr;

namespace {

TensorData f32(const std::string& name, std::vector<int64_t> shape, float base) {
  TensorData t{name, DType::F32, shape, {}};
  int64_t n = 1;
  for (auto d : shape) n *= d;
  t.bytes.resize(n * 4);
  for (int64_t i = 0; i < n; ++i) {
    float v = base + float(i);
    std::memcpy(&t.bytes[i * 4], &v, 4);
  }
  return t;
}

std::string read(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

}  // namespace

TEST(SafeTensors, LoadsSingleFileInPlace) {
  auto dir = temp_dir();
  auto path = (dir / "model.safetensors").string();
  write_safetensors(path, {f32("a", {2, 3}, 1), {"b", DType::F8_E4M3, {4}, {0x38, 0x40, 0xb8, 0}}});
  auto st = SafeTensors::open(dir.string());
  const auto& a = st.expect("a", DType::F32, {2, 3});
  EXPECT_EQ(a.as<float>()[5], 6.0f);
  const auto& b = st.get("b");
  EXPECT_EQ(fp8_to_float(b.data[0]), 1.0f);
  EXPECT_EQ(fp8_to_float(b.data[1]), 2.0f);
  EXPECT_EQ(fp8_to_float(b.data[2]), -1.0f);
  EXPECT_EQ(st.mapped_bytes(), std::filesystem::file_size(path));
}

TEST(SafeTensors, LoadsShardedWithIndex) {
  auto dir = temp_dir();
  write_safetensors((dir / "model-00001-of-00002.safetensors").string(), {f32("x", {3}, 0)});
  write_safetensors((dir / "model-00002-of-00002.safetensors").string(), {f32("y", {2}, 10)});
  write(
      (dir / "model.safetensors.index.json").string(),
      R"({"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})");
  auto st = SafeTensors::open(dir.string());
  EXPECT_EQ(st.get("y").as<float>()[1], 11.0f);
  EXPECT_EQ(st.tensors().size(), 2u);
}

TEST(SafeTensors, IndexPointingAtTheWrongShardNamesTheTensor) {
  auto dir = temp_dir();
  write_safetensors((dir / "a.safetensors").string(), {f32("x", {3}, 0)});
  write((dir / "model.safetensors.index.json").string(), R"({"weight_map":{"x":"a.safetensors","z":"a.safetensors"}})");
  EXPECT_THAT(error_of([&] { SafeTensors::open(dir.string()); }), HasSubstr("tensor 'z'"));
}

TEST(SafeTensors, TruncatedFileNamesTheTensor) {
  auto dir = temp_dir();
  auto path = (dir / "m.safetensors").string();
  write_safetensors(path, {f32("first", {4}, 0), f32("second", {1000}, 0)});
  auto s = read(path);
  write(path, s.substr(0, s.size() - 10));
  auto err = error_of([&] { SafeTensors::open(path); });
  EXPECT_THAT(err, HasSubstr("tensor 'second'"));
  EXPECT_THAT(err, HasSubstr("truncated"));
  write(path, s.substr(0, 5));
  EXPECT_THAT(error_of([&] { SafeTensors::open(path); }), HasSubstr("truncated"));
  write(path, s.substr(0, 20));  // header length larger than the file
  EXPECT_THAT(error_of([&] { SafeTensors::open(path); }), HasSubstr("exceeds file size"));
}

TEST(SafeTensors, BadHeaderIsAnError) {
  auto dir = temp_dir();
  auto path = (dir / "m.safetensors").string();
  std::string h = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], ";  // cut JSON
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((h.size() >> (8 * i)) & 0xff);
  write(path, s + h + std::string(8, '\0'));
  EXPECT_THAT(error_of([&] { SafeTensors::open(path); }), HasSubstr("not valid JSON"));
  h = R"({"a": {"dtype": "Q5_K", "shape": [2], "data_offsets": [0, 8]}})";
  for (int i = 0; i < 8; ++i) s[i] = char((h.size() >> (8 * i)) & 0xff);
  write(path, s + h + std::string(8, '\0'));
  auto err = error_of([&] { SafeTensors::open(path); });
  EXPECT_THAT(err, HasSubstr("tensor 'a'"));
  EXPECT_THAT(err, HasSubstr("Q5_K"));
  h = R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})";
  for (int i = 0; i < 8; ++i) s[i] = char((h.size() >> (8 * i)) & 0xff);
  write(path, s + h + std::string(8, '\0'));
  err = error_of([&] { SafeTensors::open(path); });
  EXPECT_THAT(err, HasSubstr("needs 12 bytes"));
}

TEST(SafeTensors, DtypeAndShapeMismatchSayExpectedAndFound) {
  auto dir = temp_dir();
  auto path = (dir / "m.safetensors").string();
  write_safetensors(path, {f32("w", {2, 3}, 0)});
  auto st = SafeTensors::open(path);
  auto err = error_of([&] { st.expect("w", DType::BF16, {2, 3}); });
  EXPECT_THAT(err, HasSubstr("tensor 'w': expected BF16 [2, 3], found F32 [2, 3]"));
  err = error_of([&] { st.expect("w", DType::F32, {3, 2}); });
  EXPECT_THAT(err, HasSubstr("expected F32 [3, 2], found F32 [2, 3]"));
  EXPECT_THAT(error_of([&] { st.get("nope"); }), HasSubstr("tensor 'nope' not found"));
}

TEST(Quant, Fp8RoundTripsEveryCode) {
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f) continue;
    float v = fp8_to_float(uint8_t(b));
    uint8_t back = float_to_fp8(v);
    if (v == 0) EXPECT_EQ(fp8_to_float(back), 0.0f);
    else EXPECT_EQ(back, b) << b;
  }
  EXPECT_EQ(fp8_to_float(0x7e), 448.0f);
  EXPECT_EQ(fp8_to_float(0x01), 0x1p-9f);  // smallest subnormal
  EXPECT_EQ(float_to_fp8(1000.0f), 0x7e);  // saturates
  // Ties go to the even code: 1.0625 lies between 1.0 (0x38) and 1.125 (0x39).
  EXPECT_EQ(float_to_fp8(1.0625f), 0x38);
  EXPECT_EQ(float_to_fp8(1.1875f), 0x3a);
}

// The bit-level conversions against the definition: the nearest code by value, ties to the even
// code, saturating at the maximum; on a fine grid, at every midpoint and next to it, and randomly.
TEST(Quant, Fp8AndFp4ConversionsAreNearestTiesToEven) {
  auto nearest = [](float a, const float* v, int n) {
    int lo = 0;
    for (int c = 1; c < n; ++c)
      if (v[c] <= a) lo = c;
    if (lo == n - 1) return lo;
    const float dl = a - v[lo], dh = v[lo + 1] - a;
    return dl < dh ? lo : dh < dl ? lo + 1 : (lo & 1) ? lo + 1 : lo;
  };
  float fp8[127];
  for (int c = 0; c < 127; ++c) fp8[c] = fp8_to_float(uint8_t(c));
  const float fp4[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  std::vector<float> probes;
  for (int i = 0; i < 460 * 1024; ++i) probes.push_back(float(i) / 1024);
  for (int c = 0; c + 1 < 127; ++c) {
    const float mid = (fp8[c] + fp8[c + 1]) / 2;
    for (float m : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) probes.push_back(m);
  }
  for (int c = 0; c + 1 < 8; ++c) {
    const float mid = (fp4[c] + fp4[c + 1]) / 2;
    for (float m : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) probes.push_back(m);
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 200000; ++i) probes.push_back(std::ldexp(float(rng() % 1000000) / 1e6f, int(rng() % 24) - 14));
  for (float a : probes) {
    for (float s : {1.0f, -1.0f}) {
      const uint8_t sign8 = s < 0 ? 0x80 : 0, sign4 = s < 0 ? 8 : 0;
      ASSERT_EQ(float_to_fp8(s * a), sign8 | (a >= 448 ? 0x7e : nearest(a, fp8, 127))) << s * a;
      ASSERT_EQ(float_to_fp4(s * a), sign4 | (a >= 6 ? 7 : nearest(a, fp4, 8))) << s * a;
    }
  }
  EXPECT_EQ(float_to_fp8(std::nanf("")), 0x7f);
  EXPECT_EQ(float_to_fp4(std::nanf("")), 0);
  EXPECT_EQ(float_to_fp8(-INFINITY), 0xfe);
}

TEST(Quant, Fp4E8m0Bf16) {
  const float mags[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(fp4_to_float(uint8_t(i)), mags[i]);
    EXPECT_EQ(fp4_to_float(uint8_t(i | 8)), -mags[i]);
    EXPECT_EQ(float_to_fp4(mags[i]), i);
  }
  EXPECT_EQ(float_to_fp4(2.5f), 4);   // tie -> even code (2.0)
  EXPECT_EQ(float_to_fp4(3.5f), 6);   // tie between 3 (5) and 4 (6) -> 6
  EXPECT_EQ(float_to_fp4(100.f), 7);
  EXPECT_EQ(e8m0_to_float(127), 1.0f);
  EXPECT_EQ(e8m0_to_float(120), 0x1p-7f);
  EXPECT_EQ(float_to_e8m0(0x1p-7f), 120);
  EXPECT_TRUE(std::isnan(e8m0_to_float(255)));
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(round_bf16(1.0f + 0x1p-8f), 1.0f);  // tie to even
  EXPECT_EQ(round_bf16(1.0f + 0x1p-7f + 0x1p-8f), 1.0f + 0x1p-6f);
}

TEST(Quant, SimulationsUsePowerOfTwoScales) {
  float x[64];
  for (int i = 0; i < 64; ++i) x[i] = std::sin(float(i)) * 3.0f;
  float y[64];
  std::memcpy(y, x, sizeof x);
  fp8_simulate(y, 64, 64);
  float amax = 0;
  for (float v : x) amax = std::max(amax, std::fabs(v));
  float s = pow2_scale(amax, 448, 1e-4f);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(y[i], fp8_to_float(float_to_fp8(x[i] / s)) * s);
    EXPECT_NEAR(y[i], x[i], std::fabs(x[i]) * 0.07f + 1e-6f);
  }
  std::memcpy(y, x, sizeof x);
  fp4_simulate(y, 64);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(y[i], x[i], 0.5f);
  float h[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  hadamard(h, 8);
  for (float v : h) EXPECT_FLOAT_EQ(v, 1 / std::sqrt(8.0f));
  hadamard(h, 8);
  EXPECT_FLOAT_EQ(h[0], 1.0f);
  EXPECT_NEAR(h[3], 0.0f, 1e-7);
}
