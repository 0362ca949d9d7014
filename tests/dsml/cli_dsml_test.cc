// `whalebox dsml render|parse` through the real binary: exact bytes out, clear errors on bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct Output {
  int status = -1;
  std::string out;
};

// Runs the binary with `input` on stdin; stderr is folded into the output when asked.
Output run(const std::string& args, const std::string& input, bool with_stderr = false) {
  auto dir = std::filesystem::temp_directory_path() / ("dsml_cli_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto in = dir / "stdin";
  std::ofstream(in, std::ios::binary) << input;
  std::string cmd = std::string(WHALEBOX_BINARY) + " " + args + " < " + in.string() + (with_stderr ? " 2>&1" : " 2>/dev/null");
  Output o;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) o.out.append(buf.data(), n);
  int st = pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::filesystem::remove_all(dir);
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

const std::string kOfficial = std::string(WHALEBOX_SHARED_DIR) + "/testdata/dsml/official";

}  // namespace

TEST(DsmlCli, RenderOfficialVectors) {
  if (!std::filesystem::exists(kOfficial + "/test_input_1.json")) GTEST_SKIP() << "no official vectors in " << kOfficial;
  for (int i = 1; i <= 4; ++i) {
    std::string n = std::to_string(i);
    Output o = run(std::string("dsml render --mode ") + (i == 4 ? "chat" : "thinking"), slurp(kOfficial + "/test_input_" + n + ".json"));
    EXPECT_EQ(o.status, 0);
    EXPECT_EQ(o.out, slurp(kOfficial + "/test_output_" + n + ".txt")) << "vector " << n;
  }
}

TEST(DsmlCli, RenderOptions) {
  std::string conv = R"([{"role":"user","content":"Hi"},{"role":"assistant","reasoning_content":"g","content":"Hello"},{"role":"user","content":"x"}])";
  EXPECT_NE(run("dsml render", conv).out.find("<｜Assistant｜></think>Hello"), std::string::npos);
  EXPECT_NE(run("dsml render --drop-thinking=false", conv).out.find("<think>g</think>Hello"), std::string::npos);
  EXPECT_NE(run("dsml render --effort max", conv).out.find("Reasoning Effort: Absolute maximum"), std::string::npos);
  EXPECT_TRUE(run("dsml render --mode chat", conv).out.ends_with("<｜Assistant｜></think>"));
}

TEST(DsmlCli, ParseWithTools) {
  std::string tools = R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
    "properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}}])";
  auto path = std::filesystem::temp_directory_path() / ("dsml_tools_" + std::to_string(getpid()) + ".json");
  std::ofstream(path) << tools;
  std::string completion =
      "Need it.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
      "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"days\" string=\"true\">5</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
      "<｜DSML｜invoke name=\"nope\">\n\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>";
  Output o = run("dsml parse --mode thinking --tools " + path.string(), completion);
  std::filesystem::remove(path);
  ASSERT_EQ(o.status, 0) << o.out;
  auto j = nlohmann::ordered_json::parse(o.out);
  EXPECT_EQ(j["reasoning_content"], "Need it.");
  EXPECT_EQ(j["content"], "");
  EXPECT_EQ(j["tool_calls"][0]["name"], "get_weather");
  EXPECT_EQ(j["tool_calls"][0]["arguments"].dump(), R"({"city":"Paris","days":5})");  // "5" coerced
  EXPECT_EQ(j["incomplete"], false);
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_EQ(j["errors"][0]["call"], 1);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"reasoning_content", "content", "tool_calls", "incomplete", "errors"}));
}

TEST(DsmlCli, ParseTruncatedIsIncomplete) {
  Output o = run("dsml parse --mode chat",
                 "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">x");
  ASSERT_EQ(o.status, 0);
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["incomplete"], true);
  EXPECT_FALSE(j["errors"].empty());
}

TEST(DsmlCli, BadInputIsAClearErrorNotACrash) {
  Output o = run("dsml render", "{not json", true);
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.out.find("not valid JSON"), std::string::npos) << o.out;
  o = run("dsml render", R"([{"role":"wizard"}])", true);
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.out.find("unknown role \"wizard\""), std::string::npos) << o.out;
  o = run("dsml parse --tools /nonexistent/tools.json", "x", true);
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.out.find("cannot read tools file"), std::string::npos) << o.out;
  o = run("dsml render --mode sideways", "[]", true);
  EXPECT_NE(o.status, 0);
  o = run("dsml parse", std::string("\xff\xfe</think>\x80", 11), true);  // invalid UTF-8 is not a crash
  EXPECT_EQ(o.status, 0) << o.out;
}
