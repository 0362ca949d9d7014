// Parity with the reference's golden vectors (tests/data/, written by model/reference/golden.py):
// logits at the stored positions, MTP logits, every compressed entry and indexer key, the
// indexer's top-k sets (except at near-ties), and the 64-token greedy continuation.
//
// golden_plain.safetensors (no KV/indexer rounding) is compared tightly against the engine's
// plain mode. golden.safetensors (FP8 KV + FP4 indexer simulations) against exact mode with
// looser logit bounds: an FP8 rounding boundary turns a 1e-7 difference in summation order into
// one FP8 step (the reference itself reproduces its own golden logits only to ~4e-3 when rerun).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "model/engine.h"
#include "model/safetensors.h"

using namespace whalebox::model;
namespace fs = std::filesystem;

namespace {

// Golden vectors and the checkpoint they came from.
struct Case {
  fs::path data, model;
};
const Case kFlashMini{fs::path(WHALEBOX_SOURCE_DIR) / "tests/data/v4-flash-mini",
                      fs::path(WHALEBOX_SOURCE_DIR) / "tests/data/v4-flash-mini"};
const Case kWhaleTiny{fs::path(WHALEBOX_SOURCE_DIR) / "tests/data/whale-tiny",
                      fs::path(WHALEBOX_SOURCE_DIR) / "models/whale-tiny"};
Case g_case = kFlashMini;  // set by each test before the helpers run

struct Golden {
  explicit Golden(const std::string& file) : g(SafeTensors::open((g_case.data / file).string())) {}
  SafeTensors g;
  const float* f32(const std::string& n) const { return g.get(n).as<float>(); }
  const int32_t* i32(const std::string& n) const { return g.get(n).as<int32_t>(); }
  int64_t dim(const std::string& n, int i) const { return g.get(n).dim(i); }
};

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max<double>(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

int64_t argmax(const float* a, int64_t n) { return std::max_element(a, a + n) - a; }

struct Bounds {
  double logits, mtp, entry_value, bad_entry_fraction, bad_set_fraction;
};

void check_prompt(const char* file, EngineOptions eo, Bounds b) {
  Golden gd(file);
  auto m = Model::load(g_case.model.string(), eo);
  m->options().mtp = true;
  const int64_t T = gd.dim("tokens", 0), V = m->config().vocab_size;
  std::vector<int32_t> toks(gd.i32("tokens"), gd.i32("tokens") + T);
  KvCache cache = m->new_cache();
  Trace trace;
  Logits mtp;
  ForwardOptions fo;
  fo.all_positions = true;
  fo.trace = &trace;
  fo.mtp = &mtp;
  Logits l = m->forward(cache, toks, fo);
  ASSERT_EQ(l.rows, T);

  double worst = 0, worst_mtp = 0;
  for (int64_t i = 0; i < gd.dim("logit_positions", 0); ++i) {
    int32_t pos = gd.i32("logit_positions")[i];
    const float* ref = gd.f32("logits") + i * V;
    worst = std::max(worst, max_abs_diff(l.row(pos), ref, V));
    EXPECT_EQ(argmax(l.row(pos), V), argmax(ref, V)) << file << ": top-1 at position " << pos;
  }
  for (int64_t i = 0; i < gd.dim("mtp_positions", 0); ++i) {
    int32_t pos = gd.i32("mtp_positions")[i];
    const float* ref = gd.f32("mtp_logits") + i * V;
    worst_mtp = std::max(worst_mtp, max_abs_diff(mtp.row(pos), ref, V));
    EXPECT_EQ(argmax(mtp.row(pos), V), argmax(ref, V)) << file << ": MTP top-1 at position " << pos;
  }
  EXPECT_LT(worst, b.logits) << file;
  EXPECT_LT(worst_mtp, b.mtp) << file;

  const Config& c = m->config();
  KvEntryFormat fmt(c, cache.layout());
  IndexKeyFormat ifmt(c, cache.layout());
  int near_ties = 0, sets = 0, bad_sets = 0;
  int64_t values = 0, off = 0;
  for (int layer = 0; layer < c.num_hidden_layers; ++layer) {
    const std::string p = "layers." + std::to_string(layer) + ".";
    if (!gd.g.find(p + "compressed")) continue;
    const auto& lc = cache.layers[size_t(layer)];
    const int64_t n = gd.dim(p + "compressed", 0), hd = gd.dim(p + "compressed", 1);
    ASSERT_EQ(lc.compressed.size(), n) << p;
    std::vector<float> e(static_cast<size_t>(hd));
    for (int64_t j = 0; j < n; ++j) {
      fmt.decode(lc.compressed.at(j), e.data());
      const float* ref = gd.f32(p + "compressed") + j * hd;
      for (int64_t k = 0; k < hd; ++k, ++values) off += std::fabs(e[size_t(k)] - ref[k]) > b.entry_value;
    }
    if (!gd.g.find(p + "index_keys")) continue;
    const int64_t ci = gd.dim(p + "index_keys", 1);
    ASSERT_EQ(lc.index_keys.size(), gd.dim(p + "index_keys", 0));
    std::vector<float> k(static_cast<size_t>(ci));
    for (int64_t j = 0; j < lc.index_keys.size(); ++j) {
      ifmt.decode(lc.index_keys.at(j), k.data());
      const float* ref = gd.f32(p + "index_keys") + j * ci;
      for (int64_t x = 0; x < ci; ++x, ++values) off += std::fabs(k[size_t(x)] - ref[x]) > b.entry_value;
    }
    // Top-k sets, skipping near-ties at the k-th score.
    const int64_t Q = gd.dim(p + "topk", 0), K = gd.dim(p + "topk", 1), N = gd.dim(p + "index_scores", 1);
    for (int64_t qi = 0; qi < Q; ++qi) {
      int32_t t = gd.i32(p + "topk_positions")[qi];
      std::set<int32_t> ref;
      for (int64_t j = 0; j < K; ++j)
        if (int32_t v = gd.i32(p + "topk")[qi * K + j]; v >= 0) ref.insert(v);
      const auto& mine = trace.topk[layer][size_t(t)];
      std::vector<float> sc(gd.f32(p + "index_scores") + qi * N, gd.f32(p + "index_scores") + qi * N + (t + 1) / 4);
      std::sort(sc.rbegin(), sc.rend());
      if (int64_t(sc.size()) > K && std::fabs(sc[size_t(K - 1)] - sc[size_t(K)]) < 1e-3f) {
        ++near_ties;
        continue;
      }
      ++sets;
      if (std::set<int32_t>(mine.begin(), mine.end()) != ref) {
        ++bad_sets;
        std::printf("%s %s position %lld: top-k set differs\n", file, p.c_str(), (long long)t);
      }
    }
  }
  std::printf("%s: logits max |err| %.3g, MTP %.3g, cache values off %lld/%lld, top-k %d/%d sets equal, %d near-ties\n",
              file, worst, worst_mtp, (long long)off, (long long)values, sets - bad_sets, sets, near_ties);
  EXPECT_LE(double(off), b.bad_entry_fraction * double(values)) << file;
  EXPECT_LE(double(bad_sets), b.bad_set_fraction * double(sets)) << file;
  EXPECT_GT(sets, 0);
}

void check_continuation(const char* file, EngineOptions eo, double logit_bound) {
  Golden gd(file);
  auto m = Model::load(g_case.model.string(), eo);
  const int64_t T = gd.dim("tokens", 0), V = m->config().vocab_size, n = gd.dim("continuation", 0);
  std::vector<int32_t> toks(gd.i32("tokens"), gd.i32("tokens") + T);
  KvCache cache = m->new_cache();
  Logits l = m->forward(cache, toks);
  std::vector<int32_t> out;
  double worst = 0;
  for (int64_t k = 0; k < n; ++k) {
    if (k < gd.dim("continuation_logits", 0))
      worst = std::max(worst, max_abs_diff(l.last(), gd.f32("continuation_logits") + k * V, V));
    int32_t next = int32_t(argmax(l.last(), V));
    out.push_back(next);
    l = m->forward(cache, {next});
  }
  std::printf("%s: greedy continuation of %lld tokens, max |logit err| (first 16 steps) %.3g\n", file, (long long)n,
              worst);
  EXPECT_EQ(out, std::vector<int32_t>(gd.i32("continuation"), gd.i32("continuation") + n)) << file;
  EXPECT_LT(worst, logit_bound) << file;
}

EngineOptions plain() {
  EngineOptions o;
  o.plain = true;
  return o;
}

}  // namespace

class GoldenParity : public ::testing::Test {
 protected:
  void SetUp() override {
    g_case = kFlashMini;
    if (!fs::exists(g_case.data / "golden.safetensors")) GTEST_SKIP() << "golden vectors absent: " << g_case.data;
  }
};

TEST_F(GoldenParity, PlainPrompt) { check_prompt("golden_plain.safetensors", plain(), {1e-4, 1e-4, 1e-4, 0.0, 0.0}); }
TEST_F(GoldenParity, PlainGreedyContinuation) { check_continuation("golden_plain.safetensors", plain(), 1e-4); }
// With the FP8/FP4 simulations: bounds sized by what the reference's own rerun reaches (above).
TEST_F(GoldenParity, ExactEmulationPrompt) { check_prompt("golden.safetensors", {}, {0.02, 0.02, 1e-4, 0.15, 0.1}); }
TEST_F(GoldenParity, ExactEmulationGreedyContinuation) { check_continuation("golden.safetensors", {}, 0.03); }

// The trained whale-tiny: its tokenizer reproduces the reference's prompt ids, and the engine
// its logits, cache entries, selections and greedy continuation.
class WhaleTinyGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    g_case = kWhaleTiny;
    if (!fs::exists(g_case.data / "golden.safetensors") || !fs::exists(g_case.model / "model.safetensors"))
      GTEST_SKIP() << "whale-tiny or its golden vectors absent";
  }
};

TEST_F(WhaleTinyGolden, TokenizerMatchesThePromptIds) {
  auto m = Model::load(g_case.model.string());
  ASSERT_NE(m->tokenizer(), nullptr);
  std::ifstream in(g_case.data / "prompt.txt", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  Golden gd("golden_plain.safetensors");
  std::vector<int32_t> ref(gd.i32("tokens"), gd.i32("tokens") + gd.dim("tokens", 0));
  EXPECT_EQ(m->tokenizer()->encode(text), ref);
  EXPECT_EQ(m->tokenizer()->decode(ref), text);
}
TEST_F(WhaleTinyGolden, PlainPrompt) { check_prompt("golden_plain.safetensors", plain(), {1e-4, 1e-4, 1e-4, 0.0, 0.0}); }
TEST_F(WhaleTinyGolden, PlainGreedyContinuation) { check_continuation("golden_plain.safetensors", plain(), 1e-4); }
TEST_F(WhaleTinyGolden, ExactEmulationPrompt) { check_prompt("golden.safetensors", {}, {0.02, 0.02, 1e-4, 0.15, 0.1}); }
TEST_F(WhaleTinyGolden, ExactEmulationGreedyContinuation) { check_continuation("golden.safetensors", {}, 0.03); }
