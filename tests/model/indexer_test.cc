// The fast-mode indexer: integer scores over FP4 keys and queries (AVX-512 VNNI, AVX2) agree
// with the scalar sums and with each other bit for bit, and the top-k selection keeps the highest scores with lower indices winning ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "model/config.h"
#include "model/indexer.h"
#include "model/kernels.h"
#include "model/kv_cache.h"
#include "tiny_model.h"

using namespace whalebox::model;

namespace {

Config indexer_config(int heads, int dim) {
  std::string j = whalebox::model::testing::tiny_config_json();
  auto set = [&](const std::string& key, int v) {
    size_t p = j.find("\"" + key + "\": ");
    size_t e = j.find_first_of(",}", p);
    j.replace(p, e - p, "\"" + key + "\": " + std::to_string(v));
  };
  set("index_n_heads", heads);
  set("index_head_dim", dim);
  return parse_config(j);
}

}  // namespace

TEST(Indexer, Int8ScoresEqualScalarSums) {
  for (auto [heads, dim, n] : {std::tuple{16, 128, 1000}, {2, 64, 37}, {4, 256, 16}, {3, 64, 70}}) {
    Config c = indexer_config(heads, dim);
    IndexKeyFormat fmt(c, KvLayout::Production);
    std::mt19937 rng(5);
    std::normal_distribution<float> nd(0, 1);
    PagedEntries keys(fmt.bytes);
    std::vector<float> v(static_cast<size_t>(dim));
    for (int j = 0; j < n; ++j) {
      const float mag = std::ldexp(1.0f, int(rng() % 9) - 4);  // scales vary per key
      for (auto& x : v) x = nd(rng) * mag;
      fmt.encode(v.data(), keys.append());
    }
    std::vector<uint8_t> q(size_t(heads * fmt.bytes));
    std::vector<float> w(static_cast<size_t>(heads));
    for (int h = 0; h < heads; ++h) {
      for (auto& x : v) x = nd(rng);
      fmt.encode(v.data(), &q[size_t(h * fmt.bytes)]);
      w[size_t(h)] = nd(rng);
    }
    std::vector<float> fast(static_cast<size_t>(n), -1.0f), ref(static_cast<size_t>(n));
    indexer_scores_fp4_scalar(c, keys, n, q.data(), w.data(), ref.data());
    if (!indexer_scores_int8(c, keys, n, q.data(), w.data(), fast.data())) {
      GTEST_SKIP() << "CPU lacks AVX2: the fast-mode indexer uses the scalar sums";
    }
    if (best_isa() == Isa::Avx512) {  // the AVX2 kernel on the same CPU gives the same bits
      std::vector<float> avx2(static_cast<size_t>(n), -1.0f);
      set_isa(Isa::Avx2);
      ASSERT_TRUE(indexer_scores_int8(c, keys, n, q.data(), w.data(), avx2.data()));
      set_isa(best_isa());
      for (int j = 0; j < n; ++j) ASSERT_EQ(avx2[size_t(j)], fast[size_t(j)]) << heads << "x" << dim << " key " << j;
    }
    double scale = 0;
    for (float x : ref) scale = std::max<double>(scale, std::fabs(x));
    ASSERT_GT(scale, 0.0);
    for (int j = 0; j < n; ++j) ASSERT_NEAR(fast[size_t(j)], ref[size_t(j)], 1e-6 * scale) << heads << "x" << dim << " key " << j;
  }
}

TEST(Indexer, TopKKeepsHighestScoresAndLowerIndicesOnTies) {
  std::mt19937 rng(11);
  auto expect_topk = [](const std::vector<float>& s, int64_t k, const char* what) {
    auto got = topk_indices(s, k);
    std::vector<int32_t> order(s.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return s[size_t(a)] > s[size_t(b)]; });
    order.resize(size_t(std::min<int64_t>(k, int64_t(s.size()))));
    std::sort(order.begin(), order.end());
    EXPECT_EQ(got, order) << what << ": n " << s.size() << " k " << k;
  };
  // 5,000 scores take the whole-list path; 200,000 (a CSA layer near 800K tokens) the sampled
  // threshold. Many ties, both signs.
  for (int64_t n : {5000, 200000}) {
    std::vector<float> s(static_cast<size_t>(n));
    for (auto& x : s) x = float(int(rng() % 300) - 100) * 0.5f;
    for (int64_t k : {int64_t(1), int64_t(7), int64_t(512), n / 3, n - 1, n, n + 1000}) expect_topk(s, k, "random");
    EXPECT_TRUE(topk_indices(s, 0).empty());
  }
  // A sample that misleads: every sampled position (stride 196,608 / 4,096 = 48) holds the one
  // high value, so the threshold lets only 4,096 scores through, fewer than k = 5,000.
  std::vector<float> s(196608, 0.0f);
  for (size_t j = 0; j < s.size(); j += 48) s[j] = 1.0f;
  for (size_t j = 7; j < s.size(); j += 97) s[j] = 0.5f;
  expect_topk(s, 5000, "misleading sample");
  expect_topk(s, 300, "misleading sample, small k");
}
