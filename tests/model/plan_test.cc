// model plan on the released V4 configs must reproduce the spec's parameter and KV tables.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/config.h"
#include "model/plan.h"
#include "tiny_model.h"

using namespace whalebox::model;

namespace {

std::string config_path(const char* name) {
  return std::string(WHALEBOX_SHARED_DIR) + "/testdata/v4/" + name;
}

#define REQUIRE_SHARED(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared test data absent: " << path

}  // namespace

TEST(Plan, FlashMatchesSpecTables) {
  auto path = config_path("deepseek-v4-flash.config.json");
  REQUIRE_SHARED(path);
  Config c = load_config(path);
  Plan p = make_plan(c, 1 << 20);
  // Spec §1: 284B total / 13B activated; my count 284.3B main + 6.6B MTP.
  EXPECT_NEAR(p.params_total / 1e9, 284.3, 0.5);
  EXPECT_NEAR(p.params_active / 1e9, 13.0, 1.0);
  EXPECT_NEAR(p.params_mtp / 1e9, 6.6, 0.3);
  EXPECT_EQ(kv_entry_bytes(c), 584);
  EXPECT_EQ(indexer_entry_bytes(c), 68);
  // Spec §14.3: 3,517 B/token amortised at 1M with the 584 B + FP4 indexer layout.
  EXPECT_NEAR(p.kv_bytes_per_token, 3517, 2);
  EXPECT_NEAR(p.kv.total() / double(1ull << 30), 3.44, 0.01);
  int csa = 0, hca = 0, win = 0;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    csa += p.kinds[i] == LayerKind::CSA;
    hca += p.kinds[i] == LayerKind::HCA;
    win += p.kinds[i] == LayerKind::Window;
  }
  EXPECT_EQ(csa, 21);
  EXPECT_EQ(hca, 20);
  EXPECT_EQ(win, 2);
  EXPECT_EQ(p.kinds.back(), LayerKind::Window);  // MTP
  // Released Flash checkpoint ≈ 148.7 GiB incl. MTP (spec §15.1).
  int64_t bytes = 0;
  for (auto& [k, v] : p.weight_bytes) bytes += v;
  EXPECT_NEAR(bytes / double(1ull << 30), 148.7, 0.3);
  // Compressor states ≈ 11.6 MiB per sequence.
  EXPECT_NEAR(p.kv.states / double(1 << 20), 11.6, 0.2);
}

TEST(Plan, ProMatchesSpecTables) {
  auto path = config_path("deepseek-v4-pro.config.json");
  REQUIRE_SHARED(path);
  Config c = load_config(path);
  Plan p = make_plan(c, 1 << 20);
  EXPECT_NEAR(p.params_total / 1e12, 1.573, 0.01);
  EXPECT_NEAR(p.params_active / 1e9, 49.0, 2.0);
  EXPECT_NEAR(p.kv_bytes_per_token, 5036, 2);
  EXPECT_NEAR(p.kv.total() / double(1ull << 30), 4.92, 0.01);
  // Released Pro checkpoint: 805.33 GiB in total (spec §15.1, incl. MTP).
  int64_t bytes = 0;
  for (auto& [k, v] : p.weight_bytes) bytes += v;
  EXPECT_NEAR(bytes / double(1ull << 30), 805.3, 0.5);
  EXPECT_EQ(p.kinds[0], LayerKind::HCA);
  EXPECT_EQ(p.kinds[2], LayerKind::CSA);
}

TEST(Plan, TensorNamesFollowTheReleasedLayout) {
  auto path = config_path("deepseek-v4-flash.config.json");
  REQUIRE_SHARED(path);
  Config c = load_config(path);
  std::map<std::string, TensorSpec> by_name;
  for (auto& t : checkpoint_tensors(c)) by_name.emplace(t.name, t);
  EXPECT_EQ(by_name.at("layers.2.attn.wq_b.weight").shape, (std::vector<int64_t>{32768, 1024}));
  EXPECT_EQ(by_name.at("layers.2.attn.wq_b.scale").shape, (std::vector<int64_t>{256, 8}));
  EXPECT_EQ(by_name.at("layers.3.ffn.experts.0.w1.weight").shape, (std::vector<int64_t>{2048, 2048}));
  EXPECT_EQ(by_name.at("layers.3.ffn.experts.0.w1.scale").shape, (std::vector<int64_t>{2048, 128}));
  EXPECT_EQ(by_name.at("layers.2.attn.compressor.ape").shape, (std::vector<int64_t>{4, 1024}));
  EXPECT_EQ(by_name.at("layers.3.attn.compressor.ape").shape, (std::vector<int64_t>{128, 512}));
  EXPECT_EQ(by_name.count("layers.0.attn.compressor.wkv.weight"), 0u);
  EXPECT_EQ(by_name.at("layers.1.ffn.gate.tid2eid").shape, (std::vector<int64_t>{129280, 6}));
  EXPECT_EQ(by_name.count("layers.3.ffn.gate.tid2eid"), 0u);
  EXPECT_EQ(by_name.count("mtp.0.e_proj.weight"), 1u);
  EXPECT_EQ(by_name.count("mtp.0.ffn.gate.bias"), 1u);
}

TEST(Config, RejectsBadFieldsWithTheirNames) {
  EXPECT_THROW(parse_config("{"), std::runtime_error);
  try {
    parse_config(R"({"hidden_size": 64})");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("num_hidden_layers"), std::string::npos) << e.what();
  }
  try {
    parse_config(R"({"hidden_size": "big"})");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
  }
}

// Numbers an int field cannot hold are refused by name (the JSON library's own conversion of
// 1e30 or 2^40 to int is undefined behaviour; found by model_load_fuzz); integral floats pass.
TEST(Config, RejectsNumbersOutsideTheFieldsRange) {
  const std::string base = whalebox::model::testing::tiny_config_json();
  auto with = [&](const std::string& key, const std::string& value) {
    std::string j = base;
    const size_t p = j.find("\"" + key + "\": ");
    const size_t e = key == "compress_ratios" ? j.find(']', p) + 1 : j.find_first_of(",}", p);
    return j.replace(p, e - p, "\"" + key + "\": " + value);
  };
  const int hidden = parse_config(base).hidden_size;
  EXPECT_EQ(parse_config(with("hidden_size", std::to_string(hidden) + ".0")).hidden_size, hidden);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"hidden_size", "1e30"}, {"hidden_size", "1099511627776"}, {"hidden_size", "18446744073709551615"},
           {"hidden_size", "64.5"}, {"vocab_size", "-1e300"}, {"compress_ratios", "[0, 4, 1e20]"}}) {
    try {
      parse_config(with(key, value));
      ADD_FAILURE() << key << " = " << value << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + key + "'"), std::string::npos) << e.what();
    }
  }
  try {
    parse_config(with("hidden_size", "-4"));
    ADD_FAILURE() << "a negative size was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("must be > 0"), std::string::npos) << e.what();
  }
}
