// The embedded backend in a real session (whale-tiny, a real sandbox): each turn processes only
// its new tokens, the output equals the engine's own greedy generation, Ctrl-C stops between
// tokens. Forced turns use the engine's logit hook, so the assertions hold for any checkpoint.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/backend_completions.h"
#include "agent/backend_embedded.h"
#include "dsml/parser.h"
#include "model/sampling.h"
#include "tests/agent/harness.h"

namespace whalebox::agent {
namespace {

using test::Harness;

#define START_OR_SKIP(h)                   \
  do {                                     \
    std::string why = (h).start();         \
    if (!why.empty()) GTEST_SKIP() << why; \
  } while (0)

const std::string kModelDir = std::string(WHALEBOX_SOURCE_DIR) + "/models/whale-tiny";

std::shared_ptr<const model::Model> whale_tiny() {
  static std::shared_ptr<const model::Model> m = model::Model::load(kModelDir);
  return m;
}

// Forces the first turns' outputs to the given texts, token by token; later turns are free.
struct ForcedTurns {
  std::vector<std::vector<int32_t>> turns;
  int turn = -1;
  void operator()(std::vector<float>& logits, const std::vector<int32_t>& generated) {
    if (generated.empty()) ++turn;
    if (turn >= int(turns.size()) || generated.size() >= turns[size_t(turn)].size()) return;
    int32_t want = turns[size_t(turn)][generated.size()];
    for (size_t i = 0; i < logits.size(); ++i)
      if (int32_t(i) != want) logits[i] = -INFINITY;
  }
};

std::vector<json> assistant_events(const Harness& h) { return h.of_type("assistant"); }

long usage(const json& assistant_event, const char* key) { return assistant_event["usage"][key].get<long>(); }

json first_messages(const json& messages, size_t n) {
  json out = json::array();
  for (size_t i = 0; i < n; ++i) out.push_back(messages[i]);
  return out;
}

class Embedded : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_model_dir(kModelDir)) GTEST_SKIP() << kModelDir << " is missing";
    h.cfg.tools = "whale-tiny";
    h.cfg.limits.max_turns = 4;
  }
  Harness h;
};

TEST_F(Embedded, EachTurnProcessesOnlyItsNewTokens) {
  START_OR_SKIP(h);
  { std::ofstream(h.workspace + "/notes.txt") << "one\ntwo\nthree\n"; }
  auto m = whale_tiny();
  const auto& tok = *m->tokenizer();
  const std::string t1 =
      "List the directory.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"list_dir\">\n"
      "<｜DSML｜parameter name=\"path\" string=\"true\">.</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  const std::string t2 = "I have the listing.</think>The directory holds notes.txt.<｜end▁of▁sentence｜>";
  auto forced = std::make_shared<ForcedTurns>();
  forced->turns = {tok.encode(t1), tok.encode(t2)};
  EmbeddedOptions opts;
  opts.logit_hook = [forced](std::vector<float>& l, const std::vector<int32_t>& g) { (*forced)(l, g); };
  h.cfg.limits.max_tokens_per_turn = 64;  // more than the forced turns need
  auto backend = make_embedded_backend(m, opts);

  auto results = h.run_tasks(*backend, {"What files are here?", "How many lines does notes.txt have?"});
  ASSERT_EQ(results[0].status, "done") << results[0].error;
  EXPECT_EQ(results[0].answer, "The directory holds notes.txt.");
  auto tool_results = h.of_type("tool_result");
  ASSERT_GE(tool_results.size(), 1u);
  EXPECT_EQ(tool_results[0]["name"], "list_dir");
  EXPECT_EQ(tool_results[0]["text"], "notes.txt");  // really ran; bare names, as in whale-tiny's training
  auto turns = assistant_events(h);
  ASSERT_GE(turns.size(), 3u);
  // The conversation as the session kept it: system, user, assistant (call), tool, assistant,
  // user, assistant...
  const json& msgs = h.messages;
  ASSERT_GE(msgs.size(), 7u);
  const json tools = whale_tiny_tools().openai_tools();
  auto prompt_at = [&](size_t n) { return render_prompt(first_messages(msgs, n), tools, true); };
  const std::string p1 = prompt_at(2), p2 = prompt_at(4), p3 = prompt_at(6);

  // Turn 1: everything is new.
  EXPECT_EQ(usage(turns[0], "cached_prompt_tokens"), 0);
  EXPECT_EQ(usage(turns[0], "prompt_tokens"), long(tok.encode(p1).size()));
  EXPECT_EQ(usage(turns[0], "processed_prompt_tokens"), usage(turns[0], "prompt_tokens"));
  EXPECT_EQ(usage(turns[0], "completion_tokens"), long(forced->turns[0].size()));
  EXPECT_EQ(turns[0]["finish_reason"], "tool_calls");

  // Turn 2: the prompt re-rendered from the conversation extends what the cache holds byte for
  // byte; only the appended text (EOS, the tool result, the assistant prefix) is processed.
  ASSERT_TRUE(p2.starts_with(p1 + t1));
  std::string appended = p2.substr(p1.size() + t1.size());
  EXPECT_NE(appended.find("notes.txt"), std::string::npos) << appended;
  EXPECT_TRUE(appended.ends_with("<｜Assistant｜><think>")) << appended;
  EXPECT_EQ(usage(turns[1], "cached_prompt_tokens"), usage(turns[0], "prompt_tokens") + usage(turns[0], "completion_tokens"));
  EXPECT_EQ(usage(turns[1], "processed_prompt_tokens"), long(tok.encode(appended).size()));
  EXPECT_EQ(usage(turns[1], "prompt_tokens"), usage(turns[1], "cached_prompt_tokens") + usage(turns[1], "processed_prompt_tokens"));
  EXPECT_LT(usage(turns[1], "processed_prompt_tokens") * 4, usage(turns[1], "prompt_tokens"));
  EXPECT_EQ(turns[1]["finish_reason"], "stop");

  // Next task, turn 1: only the new user text and the assistant prefix.
  ASSERT_TRUE(p3.starts_with(p2 + t2));
  std::string user_text = p3.substr(p2.size() + t2.size());
  EXPECT_NE(user_text.find("How many lines does notes.txt have?"), std::string::npos) << user_text;
  EXPECT_EQ(usage(turns[2], "cached_prompt_tokens"), usage(turns[1], "prompt_tokens") + usage(turns[1], "completion_tokens"));
  EXPECT_EQ(usage(turns[2], "processed_prompt_tokens"), long(tok.encode(user_text).size()));

  // Streamed as generated: the forced reasoning of turn 1 arrived in several deltas.
  std::string reasoning;
  int deltas = 0;
  for (const auto& e : h.events) {
    if (e["type"] == "assistant") break;
    if (e["type"] == "reasoning") reasoning += e["text"].get<std::string>(), ++deltas;
  }
  EXPECT_EQ(reasoning, "List the directory.");
  EXPECT_GT(deltas, 1);
}

// What the engine itself generates greedily for `prompt_ids` on a fresh cache, cut where the
// backend stops (EOS, the end of a tool-call block, max_tokens).
struct Direct {
  std::string text;
  size_t tokens = 0;
};
Direct direct_greedy(const model::Model& m, const std::vector<int32_t>& prompt_ids, int max_tokens) {
  auto cache = m.new_cache();
  model::GenerateOptions go;
  go.sampling.greedy = true;
  go.max_tokens = max_tokens;
  Direct d;
  bool block_done = false;
  dsml::StreamParser parser(dsml::Mode::thinking, [&](const dsml::Event& e) {
    if (e.type == dsml::EventType::block_finished) block_done = true;
  });
  go.on_token = [&](int32_t t) {
    d.text += m.tokenizer()->token_bytes(t);
    parser.feed(m.tokenizer()->token_bytes(t));
    ++d.tokens;
    return !block_done;
  };
  model::generate(m, cache, prompt_ids, go);
  return d;
}

TEST_F(Embedded, OutputEqualsTheEnginesGreedyGenerationOnTheSamePrompt) {
  START_OR_SKIP(h);
  { std::ofstream(h.workspace + "/apple.txt") << "red\ngreen\n"; }
  auto m = whale_tiny();
  const auto& tok = *m->tokenizer();
  // Turn 1 forced to a call, so that turn 2 continues a cached conversation; turns 2.. are free.
  auto forced = std::make_shared<ForcedTurns>();
  forced->turns = {tok.encode("Read it.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"read_file\">\n"
                              "<｜DSML｜parameter name=\"path\" string=\"true\">apple.txt</｜DSML｜parameter>\n"
                              "</｜DSML｜invoke>\n</｜DSML｜tool_calls>")};
  EmbeddedOptions opts;
  opts.logit_hook = [forced](std::vector<float>& l, const std::vector<int32_t>& g) { (*forced)(l, g); };
  const int max_tokens = 64;  // more than the forced turn needs
  h.cfg.limits.max_tokens_per_turn = max_tokens;
  h.cfg.limits.max_turns = 2;
  auto backend = make_embedded_backend(m, opts);
  auto result = h.run(*backend, "What's in apple.txt?");
  ASSERT_TRUE(result.status == "done" || result.status == "max_turns") << result.status << ": " << result.error;
  auto turns = assistant_events(h);
  ASSERT_EQ(turns.size(), 2u);

  // The free turn 2 ran on the cache of turn 1 plus the new tokens; the engine, given that whole
  // token sequence at once on a fresh cache, generates the same.
  const json tools = whale_tiny_tools().openai_tools();
  const std::string p1 = render_prompt(first_messages(h.messages, 2), tools, true);
  const std::string p2 = render_prompt(first_messages(h.messages, 4), tools, true);
  std::vector<int32_t> ids = tok.encode(p1);
  ids.insert(ids.end(), forced->turns[0].begin(), forced->turns[0].end());
  ASSERT_TRUE(p2.starts_with(tok.decode(ids)));
  auto appended = tok.encode(p2.substr(tok.decode(ids).size()));
  ids.insert(ids.end(), appended.begin(), appended.end());
  EXPECT_EQ(usage(turns[1], "prompt_tokens"), long(ids.size()));
  EXPECT_EQ(usage(turns[1], "processed_prompt_tokens"), long(appended.size()));

  Direct d = direct_greedy(*m, ids, max_tokens);
  EXPECT_EQ(usage(turns[1], "completion_tokens"), long(d.tokens));
  dsml::ParsedMessage want = dsml::parse_completion(d.text, dsml::Mode::thinking);
  EXPECT_EQ(turns[1]["reasoning"], want.reasoning_content);
  EXPECT_EQ(turns[1]["content"], want.content);
  EXPECT_EQ(turns[1]["tool_calls"].size(), want.tool_calls.size());
  std::string streamed;
  bool in_turn_2 = false;
  for (const auto& e : h.events) {
    if (e["type"] == "turn") in_turn_2 = e["turn"] == 2;
    if (in_turn_2 && (e["type"] == "reasoning" || e["type"] == "content")) streamed += e["text"].get<std::string>();
  }
  EXPECT_EQ(streamed, want.reasoning_content + want.content);
}

TEST_F(Embedded, CtrlCStopsTheGenerationBetweenTokens) {
  START_OR_SKIP(h);
  auto m = whale_tiny();
  // Reasoning that never ends (EOS, </think> and the DSML marker forbidden: a finished tool-call
  // block ends a turn too, and the model may start one without closing its reasoning), so only
  // the cancel can stop it.
  EmbeddedOptions opts;
  std::vector<int32_t> enders = {m->config().eos_token_id, m->tokenizer()->token_id("</think>"),
                                 m->tokenizer()->token_id("｜DSML｜")};
  opts.logit_hook = [enders](std::vector<float>& l, const std::vector<int32_t>&) {
    for (int32_t t : enders)
      if (t >= 0) l[size_t(t)] = -INFINITY;
  };
  h.cfg.limits.max_tokens_per_turn = 100000;
  auto backend = make_embedded_backend(m, opts);
  auto t0 = std::chrono::steady_clock::now();
  auto result = h.run_and_cancel(*backend, "Hi!", std::chrono::milliseconds(200), "reasoning");
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(result.status, "cancelled") << result.error;
  EXPECT_LT(s, 20.0);
  EXPECT_TRUE(h.of_type("assistant").empty());
  // The backend is still usable, and the next conversation starts afresh.
  h.events.clear();
  h.cfg.limits.max_tokens_per_turn = 8;
  h.cfg.limits.max_turns = 1;
  auto again = h.run(*backend, "Hi!");
  EXPECT_NE(again.status, "cancelled");
  EXPECT_NE(again.status, "error") << again.error;
}

TEST_F(Embedded, ADivergingPromptIsProcessedAfresh) {
  START_OR_SKIP(h);
  auto m = whale_tiny();
  h.cfg.limits.max_tokens_per_turn = 8;
  h.cfg.limits.max_turns = 1;
  auto backend = make_embedded_backend(m, EmbeddedOptions{});
  h.run(*backend, "Hi!");
  h.cfg.system_prompt = "Be brief.";  // a different system prompt: the cached sequence no longer fits
  h.events.clear();
  h.run(*backend, "Hi!");
  auto turns = assistant_events(h);
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_EQ(usage(turns[0], "cached_prompt_tokens"), 0);
  EXPECT_EQ(usage(turns[0], "processed_prompt_tokens"), usage(turns[0], "prompt_tokens"));
}

TEST_F(Embedded, ANewConversationStartsFromTheCachedSystemPrompt) {
  START_OR_SKIP(h);
  auto m = whale_tiny();
  const auto& tok = *m->tokenizer();
  h.cfg.limits.max_tokens_per_turn = 24;
  h.cfg.limits.max_turns = 1;
  auto backend = make_embedded_backend(m, EmbeddedOptions{});
  h.run(*backend, "Hi!");
  ASSERT_EQ(assistant_events(h).size(), 1u);
  EXPECT_EQ(usage(assistant_events(h)[0], "cached_prompt_tokens"), 0);  // the first computes its prefix

  // A second conversation with the same system prompt and tools: only its own text is processed.
  h.events.clear();
  h.run(*backend, "What files are here?");
  auto turns = assistant_events(h);
  ASSERT_EQ(turns.size(), 1u);
  const json tools = whale_tiny_tools().openai_tools();
  const std::string p = render_prompt(first_messages(h.messages, 2), tools, true);
  const size_t user = p.find("<｜User｜>");
  ASSERT_NE(user, std::string::npos);
  const long prefix_tokens = long(tok.encode(p.substr(0, user + std::string("<｜User｜>").size())).size());
  EXPECT_GT(prefix_tokens, 50);
  EXPECT_EQ(usage(turns[0], "cached_prompt_tokens"), prefix_tokens);
  EXPECT_EQ(usage(turns[0], "prompt_tokens"), long(tok.encode(p).size()));

  // It answers exactly as a backend that processed the whole prompt afresh.
  auto fresh = make_embedded_backend(m, EmbeddedOptions{});
  h.events.clear();
  h.run(*fresh, "What files are here?");
  auto want = assistant_events(h);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(usage(want[0], "cached_prompt_tokens"), 0);
  EXPECT_EQ(turns[0]["reasoning"], want[0]["reasoning"]);
  EXPECT_EQ(turns[0]["content"], want[0]["content"]);
  EXPECT_EQ(turns[0]["tool_calls"], want[0]["tool_calls"]);
  EXPECT_EQ(usage(turns[0], "completion_tokens"), usage(want[0], "completion_tokens"));
}

TEST(EmbeddedBackend, ABadModelDirectoryIsAClearError) {
  BackendConfig cfg;
  cfg.kind = "embedded";
  cfg.model = "/nonexistent/model";
  try {
    make_embedded_backend(cfg);
    FAIL() << "no error";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace whalebox::agent
