// The binary's contract: --version, and --help at every level of the command tree.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace {

struct Output {
  int status = -1;
  std::string text;
};

Output run(const std::string& args) {
  std::string cmd = std::string(WHALEBOX_BINARY) + " " + args + " 2>&1";
  Output out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.text.append(buf.data(), n);
  int st = pclose(p);
  out.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// Subcommand names listed under "Subcommands:" in a CLI11 help text.
std::set<std::string> subcommands(const std::string& help) {
  std::set<std::string> names;
  auto at = help.find("Subcommands:");
  if (at == std::string::npos) return names;
  std::regex line(R"(\n  ([a-z][a-z0-9-]*) )");
  for (std::sregex_iterator it(help.begin() + at, help.end(), line), end; it != end; ++it)
    names.insert((*it)[1]);
  return names;
}

TEST(Cli, VersionPrintsSemver) {
  auto out = run("--version");
  EXPECT_EQ(out.status, 0);
  EXPECT_TRUE(std::regex_search(out.text, std::regex(R"(^whalebox \d+\.\d+\.\d+)"))) << out.text;
}

TEST(Cli, NoSubcommandIsAnErrorThatPointsToHelp) {
  auto out = run("");
  EXPECT_NE(out.status, 0);
  EXPECT_NE(out.text.find("--help"), std::string::npos) << out.text;
}

TEST(Cli, UnknownSubcommandIsRejected) {
  auto out = run("no-such-command");
  EXPECT_NE(out.status, 0);
}

// Walks the whole command tree: every command answers --help with exit 0 and a usage line.
TEST(Cli, HelpAtEveryLevel) {
  std::vector<std::string> queue = {""};
  int visited = 0;
  while (!queue.empty()) {
    std::string path = queue.back();
    queue.pop_back();
    auto out = run(path + " --help");
    ASSERT_EQ(out.status, 0) << "whalebox" << path << " --help\n" << out.text;
    EXPECT_NE(out.text.find("Usage:"), std::string::npos) << path;
    ++visited;
    for (const auto& sub : subcommands(out.text)) queue.push_back(path + " " + sub);
  }
  EXPECT_GE(visited, 2) << "expected at least one subcommand";
}

// `bench <name> --help` shows that benchmark's own options (CLI11 would print the bench
// command's help instead), runs nothing and exits 0; unknown options are refused.
TEST(Cli, BenchHelpShowsEachBenchmarksOptions) {
  const std::pair<const char*, const char*> cases[] = {
      {"engine", "--contexts"}, {"dsml", "--chunk"}, {"sandbox", "--alive"}, {"agent", "--iterations"}};
  for (const auto& [name, option] : cases) {
    auto out = run(std::string("bench ") + name + " --help");
    EXPECT_EQ(out.status, 0) << name << ": " << out.text;
    EXPECT_NE(out.text.find(std::string("Usage: whalebox bench ") + name), std::string::npos) << out.text;
    EXPECT_NE(out.text.find(option), std::string::npos) << out.text;
    EXPECT_EQ(out.text.find("{\""), std::string::npos) << name << " ran instead of showing its help";
  }
  auto top = run("bench --help");
  EXPECT_EQ(top.status, 0) << top.text;
  EXPECT_NE(top.text.find("--list"), std::string::npos) << top.text;
  auto bad = run("bench agent --no-such-option 1");
  EXPECT_EQ(bad.status, 2) << bad.text;
  EXPECT_NE(bad.text.find("--no-such-option"), std::string::npos) << bad.text;
}

// The engine benchmark runs end to end (quick mode: a smaller random FP8/FP4 checkpoint made
// at run time, 4K and 64K contexts) and its last line is one JSON object with the measured
// ratios; timings are not asserted (shared machines), the structure and the KV size are.
TEST(Cli, BenchEngineQuickEndsWithOneJsonObject) {
  auto out = run("bench engine --quick --no-dense");
  ASSERT_EQ(out.status, 0) << out.text;
  auto end = out.text.find_last_not_of('\n');
  ASSERT_NE(end, std::string::npos);
  const auto nl = out.text.rfind('\n', end);
  const size_t begin = nl == std::string::npos ? 0 : nl + 1;
  const auto j = nlohmann::json::parse(out.text.substr(begin, end + 1 - begin));
  for (const char* key : {"decode", "prefill", "kv", "machine", "model", "ratios"}) EXPECT_TRUE(j.contains(key)) << key;
  ASSERT_EQ(j["decode"].size(), 2u);
  for (const auto& d : j["decode"]) EXPECT_GT(d["tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["prefill"]["tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["machine"]["read_bandwidth_gbs"].get<double>(), 0.0);
  // The production KV layout: well under 3 % of a GQA-8/128 BF16 cache of the same depth.
  EXPECT_LT(j["ratios"]["kv_fraction_of_gqa8"].get<double>(), 0.03);
  EXPECT_GT(j["ratios"]["kv_fraction_of_gqa8"].get<double>(), 0.0);
}

}  // namespace
