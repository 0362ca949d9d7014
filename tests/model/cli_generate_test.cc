// `whalebox model info|generate` on a random checkpoint with a small tokenizer: streaming
// output, --messages rendering, and a KV snapshot continued in a new process.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/random_checkpoint.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tiny_tokenizer.h"

using namespace whalebox::model::testing;
namespace fs = std::filesystem;

namespace {

std::string run(const std::string& args, int* rc) {
  std::string cmd = std::string(WHALEBOX_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

class ModelCliGenerate : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    whalebox::model::write_random_checkpoint(dir_.string(), tiny_config_json(), 5);
    std::ofstream(dir_ / "tokenizer.json") << make_tokenizer(kMerges).dump();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

}  // namespace

TEST_F(ModelCliGenerate, InfoDescribesTheCheckpoint) {
  int rc;
  auto out = run("model info --json --model " + dir_.string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["layers"], 4);
  EXPECT_EQ(j["mtp_blocks"], 1);
  EXPECT_EQ(j["layer_kinds"], (nlohmann::json{"window", "csa", "hca", "csa"}));
  EXPECT_GT(j["linear_formats"]["FP4"].get<int>(), 0);
  EXPECT_GT(j["linear_formats"]["FP8"].get<int>(), 0);
  EXPECT_EQ(j["tokenizer"]["eos"], "<｜end▁of▁sentence｜>");
}

TEST_F(ModelCliGenerate, GreedyPromptIsDeterministic) {
  int rc;
  auto a = run("model generate --greedy --max-tokens 8 --stats --model " + dir_.string() + " --prompt 'hello world'", &rc);
  ASSERT_EQ(rc, 0) << a;
  EXPECT_NE(a.find("prompt_tokens=4"), std::string::npos) << a;  // hello, " wo", rl, d
  auto b = run("model generate --greedy --max-tokens 8 --stats --model " + dir_.string() + " --prompt 'hello world'", &rc);
  EXPECT_EQ(a.substr(0, a.find("seconds=")), b.substr(0, b.find("seconds=")));
}

TEST_F(ModelCliGenerate, MessagesAreRenderedWithTheChatTemplate) {
  std::ofstream(dir_ / "req.json") << R"({"messages": [{"role": "user", "content": "hello"}]})";
  int rc;
  auto out = run("model generate --greedy --max-tokens 3 --stats --model " + dir_.string() + " --messages " +
                     (dir_ / "req.json").string(),
                 &rc);
  ASSERT_EQ(rc, 0) << out;
  // BOS + <｜User｜> + hello + <｜Assistant｜> (+ whatever the chat mode appends): more than "hello".
  auto pos = out.find("prompt_tokens=");
  ASSERT_NE(pos, std::string::npos) << out;
  EXPECT_GE(std::stoi(out.substr(pos + 14)), 4) << out;
}

TEST_F(ModelCliGenerate, SnapshotContinuesInANewProcess) {
  // Process 1 reads prompt A and saves its KV state; process 2 restores it, appends B and
  // decodes. Same output as one process reading A+B (A and B meet at special tokens, so A+B
  // tokenises as A then B).
  int rc;
  std::string kv = (dir_ / "seq.kv").string();
  const std::string A = "<｜User｜>hello world 123<｜Assistant｜>hello<｜end▁of▁sentence｜>";
  const std::string B = "<｜User｜>world 45<｜Assistant｜>";
  auto first = run("model generate --max-tokens 0 --model " + dir_.string() + " --prompt '" + A + "' --save-kv " + kv, &rc);
  ASSERT_EQ(rc, 0) << first;
  auto second = run("model generate --greedy --max-tokens 12 --model " + dir_.string() + " --load-kv " + kv +
                        " --prompt '" + B + "'",
                    &rc);
  ASSERT_EQ(rc, 0) << second;
  auto whole = run("model generate --greedy --max-tokens 12 --model " + dir_.string() + " --prompt '" + A + B + "'", &rc);
  ASSERT_EQ(rc, 0) << whole;
  EXPECT_EQ(second, whole);
  auto bad = run("model generate --model " + dir_.string() + " --load-kv " + (dir_ / "tokenizer.json").string() +
                     " --prompt x",
                 &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(bad.find("snapshot"), std::string::npos) << bad;
}

TEST_F(ModelCliGenerate, MissingPromptOrModelIsAClearError) {
  int rc;
  auto out = run("model generate --model " + dir_.string(), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("--prompt"), std::string::npos) << out;
  out = run("model generate --model /nonexistent --prompt x", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("/nonexistent"), std::string::npos) << out;
}
