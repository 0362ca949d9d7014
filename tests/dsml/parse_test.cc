// Streaming parser: official turns parse back, spec §8.6, §9.2/§9.4 tolerance, truncation.
#include <gtest/gtest.h>

#include "dsml/tokens.h"
#include "test_util.h"

using namespace dsml_test;

namespace {

const std::string kOpen = "<｜DSML｜tool_calls>\n";
const std::string kClose = "</｜DSML｜tool_calls>";
const std::string kEosS(kEos);

std::string invoke(const std::string& name, const std::string& params) {
  return "<｜DSML｜invoke name=\"" + name + "\">\n" + params + "\n</｜DSML｜invoke>";
}
std::string param(const std::string& key, const std::string& value, bool is_string = true) {
  return "<｜DSML｜parameter name=\"" + key + "\" string=\"" + (is_string ? "true" : "false") + "\">" + value +
         "</｜DSML｜parameter>";
}

}  // namespace

TEST(Parse, OfficialAssistantTurnsParseBackToTheirMessages) {
  if (!file_exists(official_dir() + "/test_input_1.json"))
    GTEST_SKIP() << "official vectors not found under " << official_dir();
  int turns = 0;
  for (const Case& c : corpus()) {
    if (c.name.rfind("official_", 0) != 0) continue;
    const auto& msgs = c.request.messages;
    for (size_t k = 0; k < msgs.size(); ++k) {
      if (msgs[k].role != "assistant") continue;
      ++turns;
      Turn t = assistant_turn(c, k);
      ParsedMessage p = parse_completion(t.completion, c.options.mode);
      bool after_task = k > 0 && msgs[k - 1].task.has_value();
      SCOPED_TRACE(c.name + " turn " + std::to_string(k));
      EXPECT_TRUE(p.errors.empty()) << p.errors[0].message;
      EXPECT_TRUE(p.eos);
      EXPECT_FALSE(p.incomplete);
      if (c.options.mode == Mode::thinking && !after_task) {
        EXPECT_EQ(p.reasoning_content, msgs[k].reasoning_content);
      }
      EXPECT_EQ(p.content, msgs[k].content);
      ASSERT_EQ(p.tool_calls.size(), msgs[k].tool_calls.size());
      for (size_t i = 0; i < p.tool_calls.size(); ++i) {
        EXPECT_TRUE(p.tool_calls[i].complete);
        EXPECT_EQ(p.tool_calls[i].name, msgs[k].tool_calls[i].name);
        EXPECT_EQ(p.tool_calls[i].arguments, msgs[k].tool_calls[i].arguments);
      }
    }
  }
  EXPECT_EQ(turns, 8);
}

TEST(Parse, SpecExample86) {
  std::string text = "Need both.</think>\n\n" + kOpen + invoke("get_weather", param("city", "Paris")) + "\n" +
                     invoke("search_flights", param("route", R"({"from": "CDG", "to": "FCO"})", false) + "\n" +
                                                  param("max_stops", "1", false)) +
                     "\n" + kClose + kEosS;
  ParsedMessage p = parse_split(text, Mode::thinking, {});
  EXPECT_EQ(p.reasoning_content, "Need both.");
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_EQ(python_dumps(p.tool_calls[0].arguments), R"({"city": "Paris"})");
  EXPECT_EQ(python_dumps(p.tool_calls[1].arguments), R"({"route": {"from": "CDG", "to": "FCO"}, "max_stops": 1})");
  EXPECT_EQ(p.tool_calls_raw, "\n\n" + kOpen + p.tool_calls[0].raw + "\n" + p.tool_calls[1].raw + "\n" + kClose);
  EXPECT_TRUE(p.errors.empty());
}

TEST(Parse, ArgumentEventsFormTheOpenAIArgumentsString) {
  std::string args;
  StreamParser parser(Mode::chat, [&](const Event& e) {
    if (e.type == EventType::argument) args.append(e.text);
  });
  std::string text = "\n\n" + kOpen + invoke("f", param("a", "x\"y\n") + "\n" + param("n", "[1, 2]", false)) + "\n" + kClose;
  for (char c : text) parser.feed(std::string_view(&c, 1));
  parser.finish();
  EXPECT_EQ(args, R"({"a": "x\"y\n", "n": [1, 2]})");
}

TEST(Parse, ValuesAreVerbatimNotXml) {
  std::string value = "a<b & \"q\" &amp; </notdsml> <｜DSML｜invoke x\n  trailing  ";
  ParsedMessage p = parse_completion("</think>\n\n" + kOpen + invoke("f", param("v", value)) + "\n" + kClose, Mode::thinking);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].params[0].value, value);
}

// §9.2/§9.4 tolerance.
TEST(Parse, MissingThinkEndBeforeBlockClosesReasoning) {
  ParsedMessage p = parse_completion("thinking...\n\n" + kOpen + invoke("f", "") + "\n" + kClose + kEosS, Mode::thinking);
  EXPECT_EQ(p.reasoning_content, "thinking...");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_TRUE(p.tool_calls[0].complete);
}

TEST(Parse, MissingOrExtraNewlinesAndSpacesAroundAttributes) {
  std::string text = "</think>ok" + std::string("<｜DSML｜tool_calls>") +
                     "<｜DSML｜invoke  name = \"f\" >\n\n\n<｜DSML｜parameter name=\"a\"   string = \"false\" >5</｜DSML｜parameter>"
                     "<｜DSML｜parameter\nname=\"b\" string=\"true\">x</｜DSML｜parameter></｜DSML｜invoke>\n\n\n" +
                     kClose + kEosS;
  ParsedMessage p = parse_completion(text, Mode::thinking);
  EXPECT_EQ(p.content, "ok");
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_EQ(p.tool_calls[0].name, "f");
  EXPECT_EQ(python_dumps(p.tool_calls[0].arguments), R"({"a": 5, "b": "x"})");
  EXPECT_TRUE(p.tool_calls[0].complete);
  EXPECT_TRUE(p.errors.empty()) << p.errors[0].message;
}

TEST(Parse, ManyNewlinesBeforeBlockBelongToTheBlock) {
  ParsedMessage p = parse_completion("text\n\n\n\n" + kOpen + invoke("f", "") + "\n" + kClose, Mode::chat);
  EXPECT_EQ(p.content, "text");
  EXPECT_EQ(p.tool_calls_raw.substr(0, 5), "\n\n\n\n<");
}

TEST(Parse, TextAfterBlockIsReportedAndDropped) {
  ParsedMessage p = parse_completion("\n\n" + kOpen + invoke("f", "") + "\n" + kClose + "\nand more" + kEosS, Mode::chat);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_TRUE(p.tool_calls[0].complete);
  EXPECT_EQ(p.content, "");
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].message.find("after the tool-call block"), std::string::npos);
  EXPECT_TRUE(p.eos);
}

TEST(Parse, StrayThinkEndInContentIsDropped) {
  ParsedMessage p = parse_completion("r</think>a</think>b" + kEosS, Mode::thinking);
  EXPECT_EQ(p.reasoning_content, "r");
  EXPECT_EQ(p.content, "ab");
  ASSERT_EQ(p.errors.size(), 1u);
}

TEST(Parse, MissingCloseTagsAreTolerated) {
  std::string text = "\n\n" + kOpen + "<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">1</｜DSML｜invoke>\n" +
                     "<｜DSML｜invoke name=\"g\">\n" + param("b", "2", false) + "\n" + kClose;
  ParsedMessage p = parse_completion(text, Mode::chat);
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_TRUE(p.tool_calls[0].complete);
  EXPECT_TRUE(p.tool_calls[1].complete);
  EXPECT_EQ(python_dumps(p.tool_calls[0].arguments), R"({"a": "1"})");
  EXPECT_EQ(python_dumps(p.tool_calls[1].arguments), R"({"b": 2})");
  EXPECT_FALSE(p.incomplete);
}

TEST(Parse, PlainContentWithAngleBracketsAndNewlines) {
  std::string content = "if (a < b && c > d) {\n\n  x = \"<｜\";\n}\n<notatag>\n\n";
  ParsedMessage p = parse_split(content + kEosS, Mode::chat, {});
  EXPECT_EQ(p.content, content);
  EXPECT_TRUE(p.tool_calls.empty());
  EXPECT_TRUE(p.errors.empty());
}

// Truncation: never a valid call.
TEST(Parse, TruncationInsideAValueYieldsAnIncompleteCall) {
  std::string full = "</think>\n\n" + kOpen + invoke("f", param("a", "1") + "\n" + param("b", "hello world")) + "\n" + kClose;
  size_t value_at = full.find("hello");
  for (size_t cut : {value_at + 3, full.find("</｜DSML｜invoke>") + 2, full.find("<｜DSML｜parameter") + 5}) {
    ParsedMessage p = parse_completion(full.substr(0, cut), Mode::thinking);
    SCOPED_TRACE(cut);
    EXPECT_TRUE(p.incomplete);
    ASSERT_EQ(p.tool_calls.size(), 1u);
    EXPECT_FALSE(p.tool_calls[0].complete);
    EXPECT_FALSE(p.errors.empty());
  }
  // Cut inside the first invoke tag: no call yet, but the output is incomplete.
  ParsedMessage mid_tag = parse_completion(full.substr(0, full.find("invoke name") + 8), Mode::thinking);
  EXPECT_TRUE(mid_tag.incomplete);
  EXPECT_TRUE(mid_tag.tool_calls.empty());
  // Cut between calls / before the block end: finished calls stay complete, the block is incomplete.
  ParsedMessage p = parse_completion(full.substr(0, full.find(kClose)), Mode::thinking);
  EXPECT_TRUE(p.incomplete);
  ASSERT_EQ(p.tool_calls.size(), 1u);
  EXPECT_TRUE(p.tool_calls[0].complete);
  // EOS inside a value also truncates.
  p = parse_completion(full.substr(0, value_at + 3) + kEosS, Mode::thinking);
  EXPECT_TRUE(p.incomplete);
  EXPECT_FALSE(p.tool_calls[0].complete);
  EXPECT_TRUE(p.eos);
}

TEST(Parse, CompletionWithoutEosIsFine) {
  ParsedMessage p = parse_completion("r</think>answer", Mode::thinking);
  EXPECT_EQ(p.content, "answer");
  EXPECT_FALSE(p.eos);
  EXPECT_TRUE(p.errors.empty());
}

TEST(Parse, ReasoningWithoutEndIsReported) {
  ParsedMessage p = parse_completion("still thinking" + kEosS, Mode::thinking);
  EXPECT_EQ(p.reasoning_content, "still thinking");
  EXPECT_EQ(p.errors.size(), 1u);
}

TEST(Parse, DeltasNeverSplitUtf8Characters) {
  std::string text = "é漢字🐳</think>日本語🐋 done";
  for (size_t chunk = 1; chunk <= 5; ++chunk) {
    std::vector<std::string> deltas;
    StreamParser parser(Mode::thinking, [&](const Event& e) {
      if (e.type == EventType::reasoning || e.type == EventType::content) deltas.emplace_back(e.text);
    });
    for (size_t i = 0; i < text.size(); i += chunk) parser.feed(std::string_view(text).substr(i, chunk));
    parser.finish();
    for (const std::string& d : deltas) {
      EXPECT_NO_THROW((void)Json(d).dump()) << "delta splits a UTF-8 character (chunk " << chunk << ")";
    }
    EXPECT_EQ(parser.message().content, "日本語🐋 done");
  }
}
