// The forward pass on a random checkpoint: incremental equals whole, snapshot/restore, fork,
// MTP, exact vs fast numerics, KV sizes, and loader errors on a mismatched checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "model/engine.h"
#include "model/plan.h"
#include "model/random_checkpoint.h"
#include "model/sampling.h"
#include "model/thread_pool.h"
#include "test_util.h"
#include "tiny_model.h"

using namespace whalebox::model;
using whalebox::model::testing::error_of;
using whalebox::model::testing::temp_dir;
using whalebox::model::testing::tiny_config_json;
using ::testing::HasSubstr;

namespace {

std::vector<int32_t> random_tokens(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(int32_t(2 + rng() % 298));
  return t;
}

class Engine : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    write_random_checkpoint(dir_.string(), tiny_config_json(), 1234);
    model_ = Model::load(dir_.string());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Logits of every position of `tokens` processed in one call.
  Logits whole(const std::vector<int32_t>& tokens, Trace* trace = nullptr) {
    KvCache c = model_->new_cache();
    ForwardOptions fo;
    fo.all_positions = true;
    fo.trace = trace;
    return model_->forward(c, tokens, fo);
  }
  // Processes `tokens` in pieces of the given sizes (cycled), collecting every position's logits.
  Logits pieces(KvCache& c, const std::vector<int32_t>& tokens, std::vector<int> sizes) {
    Logits all;
    size_t i = 0, k = 0;
    while (i < tokens.size()) {
      size_t n = std::min<size_t>(size_t(sizes[k++ % sizes.size()]), tokens.size() - i);
      ForwardOptions fo;
      fo.all_positions = true;
      Logits l = model_->forward(c, std::vector<int32_t>(tokens.begin() + long(i), tokens.begin() + long(i + n)), fo);
      all.values.insert(all.values.end(), l.values.begin(), l.values.end());
      all.rows += l.rows;
      all.vocab = l.vocab;
      i += n;
    }
    return all;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Model> model_;
};

void expect_same(const Logits& a, const Logits& b, int64_t offset_b = 0) {
  ASSERT_EQ(a.vocab, b.vocab);
  for (int64_t r = 0; r < a.rows; ++r)
    for (int64_t v = 0; v < a.vocab; ++v)
      ASSERT_EQ(a.row(r)[v], b.row(r + offset_b)[v]) << "position " << r << " token " << v;
}

}  // namespace

TEST_F(Engine, LogitsAreFiniteAndDependOnContext) {
  auto toks = random_tokens(40, 1);
  Logits l = whole(toks);
  ASSERT_EQ(l.rows, 40);
  ASSERT_EQ(l.vocab, 300);
  for (float v : l.values) ASSERT_TRUE(std::isfinite(v));
  // Changing an early token changes late logits (through the window, compressed entries, or
  // the indexer), and the change is causal: earlier positions stay equal.
  auto other = toks;
  other[3] = other[3] == 5 ? 6 : 5;
  Logits l2 = whole(other);
  for (int v = 0; v < 300; ++v) ASSERT_EQ(l.row(2)[v], l2.row(2)[v]);
  double diff = 0;
  for (int v = 0; v < 300; ++v) diff += std::fabs(l.row(39)[v] - l2.row(39)[v]);
  EXPECT_GT(diff, 0.0);
}

TEST_F(Engine, IncrementalEqualsWhole) {
  // Turn by turn like an agent: a prompt, single decoded tokens, a tool result, more decoding.
  auto toks = random_tokens(70, 2);
  Logits ref = whole(toks);
  KvCache c = model_->new_cache();
  Logits inc = pieces(c, toks, {17, 1, 1, 1, 9, 1, 1, 23, 1});
  ASSERT_EQ(inc.rows, 70);
  expect_same(ref, inc);
  EXPECT_EQ(c.length(), 70);
  EXPECT_EQ(c.tokens(), toks);
  // Small prefill chunks inside one call change nothing either.
  model_->options().prefill_chunk = 3;
  KvCache c2 = model_->new_cache();
  expect_same(ref, pieces(c2, toks, {70}));
}

TEST_F(Engine, TokenParallelPrefillEqualsOneTokenAtATime) {
  // Prefill splits per-token mHC, norms and RoPE over the pool; with more threads than cores,
  // every chunk boundary is exercised, and each token must still get decode's exact result.
  set_thread_count(4);
  for (bool exact : {true, false}) {
    model_->options().exact = exact;
    auto toks = random_tokens(64, 7);
    Logits ref = whole(toks);
    KvCache c = model_->new_cache();
    expect_same(ref, pieces(c, toks, {1}));
  }
  set_thread_count(0);
}

TEST_F(Engine, CompressedEntriesAndKvBytesFollowThePlan) {
  auto toks = random_tokens(70, 3);
  model_->options().exact = false;  // the production layout the plan counts
  KvCache c = model_->new_cache();
  Trace trace;
  ForwardOptions fo;
  fo.trace = &trace;
  model_->forward(c, toks, fo);
  const Config& cfg = model_->config();
  EXPECT_EQ(c.layers[1].compressed.size(), 70 / 4);
  EXPECT_EQ(c.layers[1].index_keys.size(), 70 / 4);
  EXPECT_EQ(c.layers[2].compressed.size(), 70 / 16);
  EXPECT_EQ(c.layers[0].compressed.size(), 0);
  KvBytes kb = kv_bytes(cfg, 70);
  EXPECT_EQ(c.kv_bytes(), kb.total() + int64_t(c.layers.back().ring.size()));  // + the MTP ring
  // Top-k: position t sees min(topk, floor((t+1)/4)) entries, all visible.
  ASSERT_EQ(trace.topk[1].size(), 70u);
  for (int t = 0; t < 70; ++t) {
    const auto& chosen = trace.topk[1][size_t(t)];
    EXPECT_EQ(chosen.size(), size_t(std::min(3, (t + 1) / 4)));
    for (int32_t j : chosen) EXPECT_LT(j, (t + 1) / 4);
  }
}

TEST_F(Engine, SnapshotRestoreContinuesIdentically) {
  auto toks = random_tokens(50, 4);
  Logits ref = whole(toks);
  KvCache c = model_->new_cache();
  pieces(c, std::vector<int32_t>(toks.begin(), toks.begin() + 29), {29});
  std::string snap = c.snapshot();
  // A fresh model instance (as a new process would have) restores and continues.
  auto again = Model::load(dir_.string());
  KvCache r = KvCache::restore(again->config(), snap);
  EXPECT_EQ(r.length(), 29);
  ForwardOptions fo;
  fo.all_positions = true;
  Logits rest = again->forward(r, std::vector<int32_t>(toks.begin() + 29, toks.end()), fo);
  ASSERT_EQ(rest.rows, 21);
  for (int64_t i = 0; i < 21; ++i)
    for (int v = 0; v < 300; ++v) ASSERT_EQ(rest.row(i)[v], ref.row(29 + i)[v]);
  // Corrupt or foreign snapshots are errors, not crashes.
  EXPECT_THAT(error_of([&] { KvCache::restore(again->config(), snap.substr(0, snap.size() / 2)); }), HasSubstr("truncated"));
  EXPECT_THAT(error_of([&] { KvCache::restore(again->config(), "garbage"); }), HasSubstr("snapshot"));
  Config other = again->config();
  other.sliding_window = 16;
  EXPECT_THAT(error_of([&] { KvCache::restore(other, snap); }), HasSubstr("different model"));
}

TEST_F(Engine, ForkBranchesEqualFreshRuns) {
  auto prefix = random_tokens(33, 5);
  auto a = random_tokens(12, 6), b = random_tokens(9, 7);
  KvCache base = model_->new_cache();
  model_->forward(base, prefix);
  KvCache fa = base.fork(), fb = base.fork();
  EXPECT_GT(fa.layers[1].compressed.pages_shared_with(base.layers[1].compressed), 0);
  ForwardOptions fo;
  fo.all_positions = true;
  Logits la = model_->forward(fa, a, fo), lb = model_->forward(fb, b, fo);
  auto full_a = prefix, full_b = prefix;
  full_a.insert(full_a.end(), a.begin(), a.end());
  full_b.insert(full_b.end(), b.begin(), b.end());
  Logits ra = whole(full_a), rb = whole(full_b);
  for (int64_t i = 0; i < la.rows; ++i)
    for (int v = 0; v < 300; ++v) ASSERT_EQ(la.row(i)[v], ra.row(33 + i)[v]);
  for (int64_t i = 0; i < lb.rows; ++i)
    for (int v = 0; v < 300; ++v) ASSERT_EQ(lb.row(i)[v], rb.row(33 + i)[v]);
  // The base is untouched by its branches (copy on write).
  EXPECT_EQ(base.length(), 33);
  EXPECT_EQ(base.layers[1].compressed.size(), 33 / 4);
}

TEST_F(Engine, MtpIncrementalEqualsWhole) {
  model_->options().mtp = true;
  auto toks = random_tokens(30, 8);
  KvCache c1 = model_->new_cache();
  Logits m1;
  ForwardOptions fo;
  fo.mtp = &m1;
  model_->forward(c1, toks, fo);
  ASSERT_EQ(m1.rows, 29);  // positions 0..28 (each needs the next token)
  KvCache c2 = model_->new_cache();
  Logits m2;
  for (size_t i = 0; i < toks.size();) {
    size_t n = std::min<size_t>(i % 2 ? 1 : 5, toks.size() - i);
    ForwardOptions f2;
    f2.mtp = &m2;
    model_->forward(c2, std::vector<int32_t>(toks.begin() + long(i), toks.begin() + long(i + n)), f2);
    i += n;
  }
  ASSERT_EQ(m2.rows, 29);
  expect_same(m1, m2);
  for (float v : m1.values) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(Engine, FastModeIsCloseToExactAndAlsoIncremental) {
  // With a top-k that keeps every entry, fast mode differs from exact by BF16 rope dims in the KV
  // entries and BF16 inputs to the linears (the indexer's integer scoring cannot change a
  // selection of everything).
  auto dir = dir_ / "dense_topk";
  write_random_checkpoint(dir.string(), tiny_config_json(8, 64), 21);
  auto m = Model::load(dir.string());
  auto toks = random_tokens(40, 9);
  ForwardOptions fo;
  fo.all_positions = true;
  KvCache ce = m->new_cache();
  Logits exact = m->forward(ce, toks, fo);
  m->options().exact = false;
  KvCache cf = m->new_cache();
  Logits fast = m->forward(cf, toks, fo);
  EXPECT_LT(cf.kv_bytes(), ce.kv_bytes());  // BF16 instead of FP32 rope dims per entry
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < exact.values.size(); ++i) {
    max_diff = std::max<double>(max_diff, std::fabs(exact.values[i] - fast.values[i]));
    max_abs = std::max<double>(max_abs, std::fabs(exact.values[i]));
  }
  EXPECT_GT(max_diff, 0.0);
  EXPECT_LT(max_diff, 0.05 * max_abs);
  // Fast mode is just as incremental.
  model_->options().exact = false;
  Logits ref = whole(toks);
  KvCache c = model_->new_cache();
  expect_same(ref, pieces(c, toks, {11, 1, 2}));
}

TEST_F(Engine, GreedyGenerationIsDeterministicAndStops) {
  GenerateOptions o;
  o.sampling.greedy = true;
  o.max_tokens = 6;
  std::vector<int32_t> seen;
  o.on_token = [&](int32_t t) {
    seen.push_back(t);
    return true;
  };
  auto prompt = random_tokens(10, 10);
  KvCache c1 = model_->new_cache();
  auto r1 = generate(*model_, c1, prompt, o);
  KvCache c2 = model_->new_cache();
  auto r2 = generate(*model_, c2, prompt, o);
  EXPECT_EQ(r1.tokens, r2.tokens);
  EXPECT_EQ(seen.size(), r1.tokens.size() * 2);
  EXPECT_EQ(c1.length(), int64_t(prompt.size() + r1.tokens.size()));
  // The greedy token is the argmax of the whole-sequence logits at each step.
  auto seq = prompt;
  for (size_t i = 0; i < r1.tokens.size(); ++i) {
    Logits l = whole(seq);
    const float* last = l.row(l.rows - 1);
    EXPECT_EQ(r1.tokens[i], int32_t(std::max_element(last, last + 300) - last));
    seq.push_back(r1.tokens[i]);
  }
  // A logit hook that forbids everything but token 1 (EOS) stops at once.
  o.logit_hook = [](std::vector<float>& l, const std::vector<int32_t>&) {
    for (size_t i = 0; i < l.size(); ++i)
      if (i != 1) l[i] = -INFINITY;
  };
  KvCache c3 = model_->new_cache();
  auto r3 = generate(*model_, c3, prompt, o);
  EXPECT_EQ(r3.tokens, std::vector<int32_t>{1});
  EXPECT_EQ(r3.stop_reason, "stop_token");
}

TEST_F(Engine, AStoppedPrefillLeavesACacheToContinueFrom) {
  GenerateOptions o;
  o.sampling.greedy = true;
  o.max_tokens = 5;
  auto prompt = random_tokens(10, 11);
  KvCache ref_cache = model_->new_cache();
  auto ref = generate(*model_, ref_cache, prompt, o);

  model_->options().prefill_chunk = 4;
  int asked = 0;
  o.stop_prefill = [&] { return ++asked == 2; };  // stop before the third chunk
  KvCache c = model_->new_cache();
  auto stopped = generate(*model_, c, prompt, o);
  EXPECT_EQ(stopped.stop_reason, "stopped");
  EXPECT_TRUE(stopped.tokens.empty());
  EXPECT_EQ(stopped.prompt_tokens, 8);
  EXPECT_EQ(c.length(), 8);
  // The rest of the prompt on the same cache generates what the uninterrupted run did.
  o.stop_prefill = nullptr;
  auto rest = generate(*model_, c, std::vector<int32_t>(prompt.begin() + 8, prompt.end()), o);
  EXPECT_EQ(rest.tokens, ref.tokens);
  EXPECT_EQ(c.tokens(), ref_cache.tokens());
}

TEST(Sampling, TopKTopPTemperatureAndSeed) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, -1.0f, 2.5f};
  SamplingParams p;
  p.top_k = 1;
  EXPECT_EQ(Sampler(p).sample(logits.data(), 5), 1);
  p = {};
  p.top_p = 0.01f;
  EXPECT_EQ(Sampler(p).sample(logits.data(), 5), 1);
  p = {};
  p.top_k = 2;
  p.seed = 5;
  Sampler s(p), s2(p);
  std::map<int, int> counts;
  for (int i = 0; i < 2000; ++i) {
    int t = s.sample(logits.data(), 5);
    EXPECT_EQ(t, s2.sample(logits.data(), 5));  // same seed, same stream
    counts[t]++;
  }
  EXPECT_EQ(counts.size(), 2u);  // only tokens 1 and 4
  // P(1) / P(4) = e^(0.5) ≈ 1.65
  EXPECT_NEAR(double(counts[1]) / counts[4], std::exp(0.5), 0.25);
}

TEST(EngineLoad, MismatchedCheckpointNamesTheTensor) {
  auto dir = temp_dir();
  write_random_checkpoint(dir.string(), tiny_config_json(), 1);
  // Same weights, but a config that expects a wider q_lora_rank.
  std::string cfg = tiny_config_json();
  cfg.replace(cfg.find("\"q_lora_rank\": 64"), 17, "\"q_lora_rank\": 96");
  std::ofstream(dir / "config.json") << cfg;
  auto err = error_of([&] { Model::load(dir.string()); });
  EXPECT_THAT(err, HasSubstr("layers.0.attn.wq_a.weight"));
  EXPECT_THAT(err, HasSubstr("expected"));
  EXPECT_THAT(err, HasSubstr("[96, 64]"));
  std::filesystem::remove_all(dir);
}

TEST(EngineLoad, ShardedCheckpointLoadsTheSame) {
  auto dir = temp_dir();
  write_random_checkpoint((dir / "one").string(), tiny_config_json(), 77, 1);
  write_random_checkpoint((dir / "three").string(), tiny_config_json(), 77, 3);
  EXPECT_TRUE(std::filesystem::exists(dir / "three" / "model.safetensors.index.json"));
  auto m1 = Model::load((dir / "one").string()), m3 = Model::load((dir / "three").string());
  auto toks = random_tokens(12, 3);
  KvCache c1 = m1->new_cache(), c3 = m3->new_cache();
  Logits a = m1->forward(c1, toks), b = m3->forward(c3, toks);
  expect_same(a, b);
  std::filesystem::remove_all(dir);
}
