// Pieces of the runtime that need no sandbox: output caps, the durable JSONL log, the config
// file, call checking, prompt rendering for the completions backend.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/backend_completions.h"
#include "agent/backend_factory.h"
#include "agent/call_check.h"
#include "agent/config.h"
#include "agent/event_printer.h"
#include "agent/http_stream.h"
#include "agent/jsonl_log.h"
#include "agent/output_cap.h"
#include "agent/tools.h"
#include "tests/agent/harness.h"

namespace whalebox::agent {
namespace {

TEST(OutputCap, ShortTextIsUntouched) { EXPECT_EQ(cap_output("abc", 10), "abc"); }

TEST(OutputCap, LongTextKeepsHeadAndTailAndSaysWhatWasCut) {
  std::string text(10000, 'x');
  text.replace(0, 4, "HEAD");
  text.replace(9996, 4, "TAIL");
  std::string capped = cap_output(text, 100);
  EXPECT_TRUE(capped.starts_with("HEAD"));
  EXPECT_TRUE(capped.ends_with("TAIL"));
  EXPECT_NE(capped.find("9900 bytes cut"), std::string::npos) << capped;
  EXPECT_NE(capped.find("10000 bytes"), std::string::npos) << capped;
}

TEST(OutputCap, CutsOnCharacterBoundaries) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "é✓";
  std::string capped = cap_output(text, 101);
  EXPECT_EQ(valid_utf8(capped), capped);
  EXPECT_EQ(valid_utf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
}

std::string temp_file(const std::string& tag) { return test::temp_dir(tag) + "/log.jsonl"; }

TEST(JsonlLog, TornLastLineAndRepeatsAreDroppedOnOpen) {
  std::string path = temp_file("log");
  {
    std::ofstream out(path);
    out << R"({"id":"a","v":1})" "\n" R"({"id":"b","v":2})" "\n" R"({"id":"a","v":3})" "\n" R"({"id":"c","v")";
  }
  {
    JsonlLog log(path);
    EXPECT_EQ(log.ids(), (std::set<std::string>{"a", "b"}));
    EXPECT_EQ(log.dropped(), 2u);
    log.append({{"id", "c"}, {"v", 4}});
  }
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(all, "{\"id\":\"a\",\"v\":1}\n{\"id\":\"b\",\"v\":2}\n{\"id\":\"c\",\"v\":4}\n");
  JsonlLog again(path, [](const nlohmann::json& j) { return j["id"] != "b"; });
  EXPECT_EQ(again.ids(), (std::set<std::string>{"a", "c"}));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST(Config, FileKeysApplyAndMistakesAreNamed) {
  AgentConfig cfg;
  apply_config_json(cfg, nlohmann::json::parse(R"({"backend": {"kind": "completions", "model": "m"},
      "limits": {"max_turns": 7}, "approve": "read-only", "thinking": false})"));
  EXPECT_EQ(cfg.backend.kind, "completions");
  EXPECT_EQ(cfg.backend.model, "m");
  EXPECT_EQ(cfg.limits.max_turns, 7);
  EXPECT_EQ(cfg.approve, "read-only");
  EXPECT_FALSE(cfg.thinking);
  auto error_of = [](const char* text) {
    AgentConfig c;
    try {
      apply_config_json(c, nlohmann::json::parse(text));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of(R"({"limits": {"max_turn": 3}})").find("limits.max_turn"), std::string::npos);
  EXPECT_NE(error_of(R"({"limits": {"max_turns": "x"}})").find("wrong type"), std::string::npos);
  EXPECT_NE(error_of(R"({"approve": "sometimes"})").find("ask, auto or read-only"), std::string::npos);
  EXPECT_NE(error_of(R"([1])").find("JSON object"), std::string::npos);
}

TEST(Config, TheEmbeddedBackendIsTheDefaultWhenAModelDirectoryIsFound) {
  const std::string tiny = std::string(WHALEBOX_SOURCE_DIR) + "/models/whale-tiny";
  if (!std::filesystem::exists(tiny + "/config.json")) GTEST_SKIP() << tiny << " is missing";
  auto chosen = [](BackendConfig b) {
    choose_backend(b);
    return b;
  };
  BackendConfig dir;
  dir.model = tiny;
  EXPECT_EQ(chosen(dir).kind, "embedded");  // --model DIR alone
  BackendConfig server;
  server.model = tiny;
  server.kind = "completions";
  EXPECT_EQ(chosen(server).kind, "completions");  // an explicit kind wins
  BackendConfig other = server;
  other.kind = "";
  other.model = "/nonexistent";
  EXPECT_EQ(chosen(other).kind, "openai");  // a name that is no directory is a server's model
  // From the source tree (models/whale-tiny in the working directory).
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(WHALEBOX_SOURCE_DIR);
  BackendConfig plain;
  BackendConfig url;
  url.base_url = "http://127.0.0.1:1/v1";
  BackendConfig embedded;
  embedded.kind = "embedded";
  auto a = chosen(plain), b = chosen(url), c = chosen(embedded);
  std::filesystem::current_path(cwd);
  EXPECT_EQ(a.kind, "embedded");
  EXPECT_EQ(a.model, "models/whale-tiny");
  EXPECT_EQ(b.kind, "openai");  // a configured server is not overridden
  EXPECT_EQ(c.model, "models/whale-tiny");
}

TEST(Usage, ServersReportTheCachedPartOfThePrompt) {
  auto u = usage_from_json(json::parse(R"({"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 7})"));
  EXPECT_EQ(u.prompt_tokens, 10);
  EXPECT_EQ(u.completion_tokens, 2);
  EXPECT_EQ(u.cached_prompt_tokens, 7);  // DeepSeek
  u = usage_from_json(json::parse(R"({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 3}})"));
  EXPECT_EQ(u.cached_prompt_tokens, 3);  // OpenAI, vLLM
  EXPECT_EQ(usage_from_json(json::parse(R"({"prompt_tokens": 10})")).cached_prompt_tokens, 0);
}

TEST(Config, MissingExplicitFileIsAnError) {
  AgentConfig cfg;
  EXPECT_THROW(load_config(cfg, "/nonexistent/whalebox.json"), std::invalid_argument);
}

TEST(CallCheck, BadCallsGetSpecificErrors) {
  dsml::ToolSet tools(builtin_tools().openai_tools());
  auto check = [&](const std::string& name, const std::string& args) {
    ToolCall c;
    c.name = name;
    c.arguments = args;
    return check_call(c, tools);
  };
  EXPECT_EQ(check("bash", R"({"command": "ls"})").error, "");
  EXPECT_NE(check("bash", R"({"command": "ls")").error.find("not a JSON object"), std::string::npos);
  EXPECT_NE(check("bash", R"({})").error.find("command"), std::string::npos);
  EXPECT_NE(check("nope", R"({})").error.find("nope"), std::string::npos);
  EXPECT_NE(check("read_file", R"({"path": "a", "offset": "many"})").error.find("offset"), std::string::npos);
}

TEST(CompletionsPrompt, ReusesTheSampledBlockAndEndsWithThink) {
  json messages = json::parse(R"([
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": "", "reasoning_content": "r",
     "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}],
     "x_dsml_raw": "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"bash\">\n<｜DSML｜parameter name=\"command\" string=\"true\">ls</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"},
    {"role": "tool", "tool_call_id": "call_0", "content": "a.txt"}])");
  json tools = builtin_tools().openai_tools();
  std::string p = render_prompt(messages, tools, true);
  EXPECT_NE(p.find("r</think>\n\n<｜DSML｜tool_calls>"), std::string::npos) << p;
  EXPECT_NE(p.find("<｜User｜><tool_result>a.txt</tool_result><｜Assistant｜><think>"), std::string::npos);
  EXPECT_TRUE(p.ends_with("<think>"));
}

TEST(EventPrinter, SummarizesCallsOnOneLine) {
  EXPECT_EQ(summarize_call("bash", R"({"command": "ls\n-l"})"), "bash ls⏎-l");
  EXPECT_EQ(summarize_call("edit_file", R"({"path": "a", "edits": []})"), "edit_file a (+1 more)");
  EXPECT_EQ(summarize_call("x", "not json"), "x");
}

}  // namespace
}  // namespace whalebox::agent
