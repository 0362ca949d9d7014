// Render → parse → render is byte-identical for every assistant turn of the corpus, and parsing
// does not depend on how the completion is cut into chunks.
#include <gtest/gtest.h>

#include <random>

#include "test_util.h"

using namespace dsml_test;

namespace {

// The message a parse gives back, without the sampled bytes: re-rendering must then come from
// the structure alone.
Message structural(const ParsedMessage& p) {
  Message m = p.to_message();
  m.tool_calls_raw.clear();
  for (ToolCall& c : m.tool_calls) c.raw.clear();
  return m;
}

}  // namespace

TEST(RoundTrip, EveryAssistantTurnRendersBackByteIdentically) {
  int own_turns = 0, official_turns = 0;
  for (const Case& c : corpus()) {
    const auto& msgs = c.request.messages;
    for (size_t k = 0; k < msgs.size(); ++k) {
      if (msgs[k].role != "assistant") continue;
      SCOPED_TRACE(c.name + " turn " + std::to_string(k));
      ++(c.name.rfind("official_", 0) == 0 ? official_turns : own_turns);
      Turn t = assistant_turn(c, k);
      ParsedMessage p = parse_completion(t.completion, c.options.mode);
      EXPECT_TRUE(p.errors.empty()) << p.errors[0].message;
      Request again = c.request;
      again.messages.resize(k + 1);
      Message m = structural(p);
      m.task = msgs[k].task;
      if (k > 0 && msgs[k - 1].task) m.reasoning_content = msgs[k].reasoning_content;  // not rendered
      again.messages[k] = m;
      EXPECT_EQ(render(again, c.options), t.prompt + t.completion) << "from structure";
      again.messages[k] = p.to_message();
      again.messages[k].task = msgs[k].task;
      EXPECT_EQ(render(again, c.options), t.prompt + t.completion) << "from raw bytes";
    }
  }
  EXPECT_EQ(own_turns, 14);  // tests/dsml/data/conversations.json
  // The official vectors are skipped in a clone without ../shared/testdata.
  if (file_exists(official_dir() + "/test_input_1.json")) {
    EXPECT_EQ(official_turns, 8);  // two assistant turns in each of test_input_{1..4}.json
  } else {
    EXPECT_EQ(official_turns, 0);
  }
}

TEST(RoundTrip, IrregularSampledCallsReRenderFromTheirRawBytes) {
  // What a model might emit that the encoder would never write: compact JSON, odd spacing.
  std::string block =
      "\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\" >\n<｜DSML｜parameter name=\"a\" string=\"false\">{\"x\":1}"
      "</｜DSML｜parameter>\n</｜DSML｜invoke>\n\n<｜DSML｜invoke name=\"g\">\n\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  std::string completion = "why</think>ok" + block + "<｜end▁of▁sentence｜>";
  ParsedMessage p = parse_completion(completion, Mode::thinking);
  ASSERT_EQ(p.tool_calls.size(), 2u);
  std::vector<Message> conv(2);
  conv[0].role = "user";
  conv[0].content = "u";
  std::string prompt = render(std::vector<Message>{conv[0]});
  conv[1] = p.to_message();
  EXPECT_EQ(render(conv), prompt + completion);
}

TEST(RoundTrip, ParsingIsIndependentOfChunking) {
  int small = 0, large = 0;
  std::mt19937 rng(12345);
  for (const Case& c : corpus()) {
    const auto& msgs = c.request.messages;
    for (size_t k = 0; k < msgs.size(); ++k) {
      if (msgs[k].role != "assistant") continue;
      SCOPED_TRACE(c.name + " turn " + std::to_string(k));
      std::string text = assistant_turn(c, k).completion;
      ParsedMessage whole = parse_split(text, c.options.mode, {});
      if (text.size() <= 400) {  // exhaustive: every single cut and every pair of cuts
        ++small;
        for (size_t a = 0; a <= text.size(); ++a) {
          std::string d = diff(whole, parse_split(text, c.options.mode, {a}));
          ASSERT_EQ(d, "") << "cut at " << a;
          for (size_t b = a; b <= text.size(); b += 1 + (text.size() > 200)) {
            d = diff(whole, parse_split(text, c.options.mode, {a, b}));
            ASSERT_EQ(d, "") << "cuts at " << a << ", " << b;
          }
        }
      } else {
        ++large;
      }
      std::vector<size_t> bytewise;  // every byte its own chunk
      for (size_t i = 1; i < text.size(); ++i) bytewise.push_back(i);
      ASSERT_EQ(diff(whole, parse_split(text, c.options.mode, bytewise)), "") << "byte by byte";
      for (int trial = 0; trial < 100; ++trial) {  // random chunkings
        std::vector<size_t> cuts;
        for (size_t at = 0;;) {
          at += 1 + rng() % (trial % 2 ? 7 : 64);
          if (at >= text.size()) break;
          cuts.push_back(at);
        }
        ASSERT_EQ(diff(whole, parse_split(text, c.options.mode, cuts)), "") << "random trial " << trial;
      }
    }
  }
  EXPECT_GT(small, 0);
  EXPECT_GT(large, 0);
}

TEST(RoundTrip, TolerantAndTruncatedInputsAreChunkingIndependentToo) {
  const std::string samples[] = {
      "r\n\n<｜DSML｜tool_calls><｜DSML｜invoke  name = \"f\" ><｜DSML｜parameter name=\"a\" string = \"false\" >5"
      "</｜DSML｜parameter></｜DSML｜invoke>\n</｜DSML｜tool_calls>\ntrailing<｜end▁of▁sentence｜>tail",
      "a</think>b</think>c\n\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"v\" string=\"true\">x<y",
      "</think>\n\n<｜DSML｜tool_calls>\njunk<｜DSML｜parameter name=\"p\" string=\"true\">v</｜DSML｜parameter>"
      "<｜DSML｜bogus><｜DSML｜invoke name=\"g\"><｜end▁of▁sentence｜>",
      "é</think>\n\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"é\" string=\"maybe\">🐳</｜DSML｜invoke>",
  };
  for (const std::string& text : samples) {
    ParsedMessage whole = parse_split(text, Mode::thinking, {});
    for (size_t a = 0; a <= text.size(); ++a)
      for (size_t b = a; b <= text.size(); ++b)
        ASSERT_EQ(diff(whole, parse_split(text, Mode::thinking, {a, b})), "") << text << " cuts " << a << "," << b;
  }
}
