// Renderer: the official vectors byte for byte, plus the spec's worked examples and edge rules.
#include <gtest/gtest.h>

#include "dsml/error.h"
#include "dsml/tokens.h"
#include "test_util.h"

using namespace dsml_test;

namespace {

std::string render_json(const char* json, RenderOptions opt = {}) {
  return render(request_from_json(Json::parse(json)), opt);
}

}  // namespace

TEST(Render, OfficialVectorsAreByteIdentical) {
  if (!file_exists(official_dir() + "/test_input_1.json"))
    GTEST_SKIP() << "official vectors not found under " << official_dir();
  for (int i = 1; i <= 4; ++i) {
    std::string n = std::to_string(i);
    Request req = request_from_json(Json::parse(read_file(official_dir() + "/test_input_" + n + ".json")));
    RenderOptions opt;
    opt.mode = i == 4 ? Mode::chat : Mode::thinking;
    EXPECT_EQ(render(req, opt), read_file(official_dir() + "/test_output_" + n + ".txt")) << "vector " << n;
  }
}

TEST(Render, DropThinkingWithoutTools) {  // spec §8.3
  const char* conv = R"([{"role":"user","content":"Hi"},
    {"role":"assistant","reasoning_content":"greet","content":"Hello!"},
    {"role":"user","content":"2+2?"}])";
  EXPECT_EQ(render_json(conv),
            "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜></think>Hello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>");
  RenderOptions keep;
  keep.drop_thinking = false;
  EXPECT_EQ(render_json(conv, keep),
            "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>greet</think>Hello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>");
  RenderOptions chat;
  chat.mode = Mode::chat;
  EXPECT_EQ(render_json(conv, chat),
            "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜></think>Hello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜></think>");
}

TEST(Render, ToolResultsMergeSortAndTakeFollowingUserText) {  // spec §7, §8.1, §8.4
  const char* conv = R"({"tools":[{"type":"function","function":{"name":"w","parameters":{"type":"object"}}}],
    "messages":[{"role":"user","content":"q"},
    {"role":"assistant","tool_calls":[
      {"id":"c1","type":"function","function":{"name":"w","arguments":"{\"city\": \"Paris\"}"}},
      {"id":"c2","type":"function","function":{"name":"w","arguments":"{\"city\": \"Rome\"}"}}]},
    {"role":"tool","tool_call_id":"c2","content":"R"},
    {"role":"tool","tool_call_id":"c1","content":"P"},
    {"role":"user","content":"also tomorrow?"}]})";
  std::string out = render_json(conv);
  std::string tail =
      "<｜User｜>q<｜Assistant｜><think></think>\n\n<｜DSML｜tool_calls>\n"
      "<｜DSML｜invoke name=\"w\">\n<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
      "<｜DSML｜invoke name=\"w\">\n<｜DSML｜parameter name=\"city\" string=\"true\">Rome</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
      "</｜DSML｜tool_calls><｜end▁of▁sentence｜>"
      "<｜User｜><tool_result>P</tool_result>\n\n<tool_result>R</tool_result>\n\nalso tomorrow?<｜Assistant｜><think>";
  ASSERT_GE(out.size(), tail.size());
  EXPECT_EQ(out.substr(out.size() - tail.size()), tail);
  // Request-level tools went into a system message inserted at the front.
  EXPECT_EQ(out.rfind("<｜begin▁of▁sentence｜>\n\n## Tools\n\n", 0), 0u) << out.substr(0, 80);
}

TEST(Render, ArgumentsAsObjectOrStringRenderIdentically) {
  const char* as_string = R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"type":"function",
    "function":{"name":"f","arguments":"{\"a\": 1, \"b\": [1, 2.5, null], \"c\": \"é<&\", \"d\": {\"z\": true, \"y\": \"q\\\"\"}}"}}]}])";
  const char* as_object = R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"type":"function",
    "function":{"name":"f","arguments":{"a": 1, "b": [1, 2.5, null], "c": "é<&", "d": {"z": true, "y": "q\""}}}}]}])";
  std::string a = render_json(as_string), b = render_json(as_object);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.find("name=\"arguments\""), std::string::npos);
  EXPECT_NE(a.find("<｜DSML｜parameter name=\"b\" string=\"false\">[1, 2.5, null]</｜DSML｜parameter>"), std::string::npos);
  EXPECT_NE(a.find("<｜DSML｜parameter name=\"d\" string=\"false\">{\"z\": true, \"y\": \"q\\\"\"}</｜DSML｜parameter>"),
            std::string::npos);
  EXPECT_NE(a.find("string=\"true\">é<&</｜DSML｜parameter>"), std::string::npos);
}

TEST(Render, NonJsonArgumentsAreWrappedLikeTheReference) {
  std::string out = render_json(R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":[
    {"function":{"name":"f","arguments":"not json"}}]}])");
  EXPECT_NE(out.find("<｜DSML｜parameter name=\"arguments\" string=\"true\">not json</｜DSML｜parameter>"), std::string::npos);
}

TEST(Render, ZeroArgumentCall) {  // spec §8.5
  std::string out = render_json(R"([{"role":"user","content":"x"},{"role":"assistant","tool_calls":[
    {"function":{"name":"now","arguments":"{}"}}]}])");
  EXPECT_NE(out.find("</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"now\">\n\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>"),
            std::string::npos);
}

TEST(Render, ReasoningEffortMaxOnlyInThinkingMode) {
  const char* conv = R"([{"role":"system","content":"S"},{"role":"user","content":"u"}])";
  RenderOptions opt;
  opt.effort = Effort::max;
  std::string out = render_json(conv, opt);
  EXPECT_EQ(out.rfind("<｜begin▁of▁sentence｜>Reasoning Effort: Absolute maximum with no shortcuts permitted.\n", 0), 0u);
  EXPECT_NE(out.find("unchecked.\n\nS<｜User｜>u<｜Assistant｜><think>"), std::string::npos);
  opt.effort = Effort::high;
  EXPECT_EQ(render_json(conv, opt), render_json(conv));
  opt.effort = Effort::max;
  opt.mode = Mode::chat;
  EXPECT_EQ(out.find("Reasoning Effort", 0) != std::string::npos, true);
  EXPECT_EQ(render_json(conv, opt).find("Reasoning Effort"), std::string::npos);
}

TEST(Render, ToolsKeepReasoningAcrossUserTurns) {
  const char* conv = R"({"tools":[{"type":"function","function":{"name":"f"}}],"messages":[
    {"role":"user","content":"a"},{"role":"assistant","reasoning_content":"r1","content":"c1"},
    {"role":"user","content":"b"}]})";
  EXPECT_NE(render_json(conv).find("<｜User｜>a<｜Assistant｜><think>r1</think>c1<｜end▁of▁sentence｜><｜User｜>b<｜Assistant｜><think>"),
            std::string::npos);
}

TEST(Render, DeveloperMessagesBeforeLastUserAreDroppedWithoutTools) {
  const char* conv = R"([{"role":"developer","content":"dev"},{"role":"assistant","content":"x"},
    {"role":"user","content":"u"}])";
  EXPECT_EQ(render_json(conv), "<｜begin▁of▁sentence｜>x<｜end▁of▁sentence｜><｜User｜>u<｜Assistant｜><think>");
}

TEST(Render, BadInputIsAClearError) {
  EXPECT_THROW(render_json(R"([{"role":"wizard","content":"x"}])"), Error);
  EXPECT_THROW(render_json(R"([{"role":"developer","content":""}])"), Error);
  EXPECT_THROW(render_json(R"([{"role":"user","content":"x","task":"dance"}])"), Error);
  EXPECT_THROW(request_from_json(Json::parse(R"({"nomessages":1})")), Error);
  EXPECT_THROW(request_from_json(Json::parse(R"([{"content":"x"}])")), Error);
  EXPECT_THROW(request_from_json(Json::parse(R"([{"role":"user","content":5}])")), Error);
  EXPECT_THROW(request_from_json(Json::parse(R"([{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}])")),
               Error);
  try {
    request_from_json(Json::parse(R"([{"role":"user","content":"ok"},{"role":"user","content":{}}])"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("message 1"), std::string::npos) << e.what();
  }
}
