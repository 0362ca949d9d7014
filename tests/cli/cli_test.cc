// The binary's contract: --version, and --help at every level of the command tree.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <sys/wait.h>

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

}  // namespace
