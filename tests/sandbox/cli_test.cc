// `whalebox sandbox run|probe` print one JSON object each (skipped when the binary is not built).
#include <nlohmann/json.hpp>

#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

std::string run_binary(const std::string& args, int& status) {
  std::string cmd = std::string(WHALEBOX_BINARY) + " " + args + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  status = p ? ::pclose(p) : -1;
  return out;
}

TEST_F(SandboxTest, CliRunPrintsOneJsonResult) {
  if (::access(WHALEBOX_BINARY, X_OK) != 0) GTEST_SKIP() << "whalebox binary not built: " << WHALEBOX_BINARY;
  int status = 0;
  std::string out = run_binary("sandbox run --timeout 1 --memory 64M --max-output 10 -- "
                               "sh -c 'printf \"\\377 ok 0123456789\"; echo err >&2; sleep 5'", status);
  auto j = nlohmann::json::parse(out);
  EXPECT_TRUE(j["timed_out"].get<bool>()) << out;
  EXPECT_TRUE(j["truncated"].get<bool>()) << out;
  EXPECT_EQ(j["stdout"].get<std::string>(), "\xEF\xBF\xBD ok 01234") << "invalid UTF-8 replaced, capped at 10 bytes";
  EXPECT_EQ(j["stderr"].get<std::string>(), "err\n");
  EXPECT_TRUE(j["exit_code"].is_null());
  EXPECT_EQ(j["signal"].get<int>(), SIGKILL);
  EXPECT_LT(j["wall_ms"].get<double>(), 1500);

  out = run_binary("sandbox run --memory lots -- true", status);
  EXPECT_NE(status, 0);
  out = run_binary("sandbox probe", status);
  auto p = nlohmann::json::parse(out);
  EXPECT_EQ(p["cgroup_mode"].get<std::string>(), report_.cgroup_mode);
  EXPECT_TRUE(p["process_backend_usable"].get<bool>());
}

}  // namespace
}  // namespace whalebox::sandbox::testing
