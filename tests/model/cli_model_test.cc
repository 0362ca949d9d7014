// The `whalebox model` commands as a user runs them.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

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

}  // namespace

TEST(ModelCli, PlanFlashJson) {
  std::string cfg = std::string(WHALEBOX_SHARED_DIR) + "/testdata/v4/deepseek-v4-flash.config.json";
  if (!std::filesystem::exists(cfg)) GTEST_SKIP() << "shared test data absent: " << cfg;
  int rc;
  auto out = run("model plan --json --context 1048576 --config " + cfg, &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_NEAR(j["params"]["total"].get<double>() / 1e9, 284.3, 0.5);
  EXPECT_NEAR(j["kv"]["bytes_per_token"].get<double>(), 3517, 2);
  EXPECT_EQ(j["layer_counts"]["csa"], 21);
  auto text = run("model plan --config " + cfg, &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_NE(text.find("bytes per token"), std::string::npos) << text;
}

TEST(ModelCli, PlanMissingFileIsAnError) {
  int rc;
  auto out = run("model plan --config /nonexistent/config.json", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("/nonexistent/config.json"), std::string::npos) << out;
}

// WHALEBOX_ISA and WHALEBOX_THREADS reach the engine; a bad value is named and ignored.
TEST(ModelCli, EnvironmentCapsTheInstructionSetAndSetsTheThreads) {
  const std::string model = std::string(WHALEBOX_SOURCE_DIR) + "/models/whale-tiny";
  if (!std::filesystem::exists(model + "/config.json")) GTEST_SKIP() << model << " is missing";
  auto info_with = [&](const char* isa, const char* threads, int* rc) {
    setenv("WHALEBOX_ISA", isa, 1);
    setenv("WHALEBOX_THREADS", threads, 1);
    auto out = run("model info --model " + model, rc);
    unsetenv("WHALEBOX_ISA");
    unsetenv("WHALEBOX_THREADS");
    return out;
  };
  int rc;
  auto out = run("model info --model " + model, &rc);
  ASSERT_EQ(rc, 0) << out;
  out = info_with("scalar", "3", &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("isa: \"scalar\""), std::string::npos) << out;
  EXPECT_NE(out.find("threads: 3"), std::string::npos) << out;
  out = info_with("avx9", "lots", &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("WHALEBOX_ISA: 'avx9' is not"), std::string::npos) << out;
  EXPECT_NE(out.find("WHALEBOX_THREADS=lots is not a thread count"), std::string::npos) << out;
}
