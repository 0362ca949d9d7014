// The event loop end to end: a real sandbox, the openai and completions backends against the
// mock server, and the replay backend.
#include <gtest/gtest.h>

#include <atomic>

#include "agent/backend_completions.h"
#include "agent/backend_openai.h"
#include "agent/backend_replay.h"
#include "dsml/tokens.h"
#include "tests/agent/harness.h"
#include "tests/agent/mock_server.h"

namespace whalebox::agent {
namespace {

using test::Harness;
using test::MockReply;
using test::MockServer;
using njson = nlohmann::json;

#define START_OR_SKIP(h)                         \
  do {                                           \
    std::string why = (h).start();               \
    if (!why.empty()) GTEST_SKIP() << why;       \
  } while (0)

BackendConfig mock_config(const MockServer& server) {
  BackendConfig cfg;
  cfg.base_url = server.base_url();
  cfg.model = "mock";
  cfg.api_key_env = "";
  cfg.retry_delay_ms = 20;
  cfg.max_attempts = 3;
  return cfg;
}

int turn_of(const njson& request) {
  int n = 1;
  for (const auto& m : request["messages"])
    if (m["role"] == "assistant") ++n;
  return n;
}

njson call(const std::string& name, const njson& args) { return {{"name", name}, {"arguments", args.dump()}}; }

// The multi-step task: write a script, run it, read its output, answer.
MockReply multi_step(const njson& req) {
  MockReply r;
  switch (turn_of(req)) {
    case 1:
      r.events = test::chat_events("I will write a script first.", "",
                                   {call("write_file", {{"path", "run.sh"}, {"content", "echo $((6 * 7))\n"}})});
      break;
    case 2:
      r.events = test::chat_events("Now run it.", "", {call("bash", {{"command", "sh run.sh > out.txt"}})});
      break;
    case 3:
      r.events = test::chat_events("Read the output.", "", {call("read_file", {{"path", "/workspace/out.txt"}})});
      break;
    default: {
      std::string seen = test::last_content(req, "tool");
      r.events = test::chat_events("Done.", "The script printed " + seen);
    }
  }
  return r;
}

TEST(AgentE2E, MultiStepTaskThroughOpenAiBackend) {
  Harness h;
  START_OR_SKIP(h);
  MockServer server([](const std::string&, const njson& req) { return multi_step(req); });
  auto backend = make_openai_backend(mock_config(server));
  auto result = h.run(*backend, "compute 6*7 with a script");
  ASSERT_EQ(result.status, "done") << result.error;
  EXPECT_EQ(result.answer, "The script printed 42\n");
  EXPECT_EQ(result.turns, 4);
  EXPECT_EQ(result.tool_calls, 3);
  EXPECT_EQ(h.read_workspace_file("out.txt"), "42\n");

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(reqs[i]["tools"].is_array()) << "request " << i;
    EXPECT_EQ(reqs[i]["tools"].size(), 8u) << "tools must be sent on every turn";
  }
  // The last request carries every earlier assistant turn with its reasoning and calls, each
  // followed by its result.
  const auto& msgs = reqs[3]["messages"];
  std::vector<std::string> roles;
  for (const auto& m : msgs) roles.push_back(m["role"]);
  EXPECT_EQ(roles, (std::vector<std::string>{"system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool"}));
  EXPECT_EQ(msgs[2]["reasoning_content"], "I will write a script first.");
  EXPECT_EQ(msgs[2]["tool_calls"][0]["function"]["name"], "write_file");
  EXPECT_EQ(msgs[3]["tool_call_id"], msgs[2]["tool_calls"][0]["id"]);
  EXPECT_EQ(msgs[4]["reasoning_content"], "Now run it.");
  EXPECT_NE(msgs[5]["content"].get<std::string>().find("[exit code 0]"), std::string::npos) << msgs[5];
  EXPECT_EQ(msgs[7]["content"], "42\n");
}

// Two calls in one turn: each records when it started and ended inside the sandbox; the
// intervals must overlap. The slower call comes first, and results still return in call order.
TEST(AgentE2E, ParallelCallsRunConcurrentlyAndReturnInCallOrder) {
  Harness h;
  START_OR_SKIP(h);
  MockServer server([](const std::string&, const njson& req) {
    MockReply r;
    if (turn_of(req) == 1)
      r.events = test::chat_events("Two at once.", "",
                                   {call("bash", {{"command", "date +%s%N > a.start; sleep 1.5; date +%s%N > a.end; echo A"}}),
                                    call("bash", {{"command", "date +%s%N > b.start; sleep 0.5; date +%s%N > b.end; echo B"}})});
    else
      r.events = test::chat_events("", "both ran");
    return r;
  });
  auto backend = make_openai_backend(mock_config(server));
  auto result = h.run(*backend, "run two things");
  ASSERT_EQ(result.status, "done") << result.error;
  auto ns = [&](const std::string& f) { return std::stoll(h.read_workspace_file(f)); };
  long long a0 = ns("a.start"), a1 = ns("a.end"), b0 = ns("b.start"), b1 = ns("b.end");
  EXPECT_LT(b0, a1) << "b started only after a ended: the calls ran one after the other";
  EXPECT_LT(a0, b1);
  double overlap_ms = (std::min(a1, b1) - std::max(a0, b0)) / 1e6;
  std::cerr << "[measured] call intervals overlap by " << overlap_ms << " ms (b runs 500 ms inside a's 1500 ms)\n";
  EXPECT_GT(overlap_ms, 300);

  auto msgs = server.requests()[1]["messages"];
  ASSERT_EQ(msgs.size(), 5u);
  EXPECT_EQ(msgs[3]["tool_call_id"], msgs[2]["tool_calls"][0]["id"]);
  EXPECT_EQ(msgs[4]["tool_call_id"], msgs[2]["tool_calls"][1]["id"]);
  EXPECT_EQ(msgs[3]["content"].get<std::string>().substr(0, 2), "A\n");
  EXPECT_EQ(msgs[4]["content"].get<std::string>().substr(0, 2), "B\n");
}

TEST(AgentE2E, MalformedCallGetsTheValidatorErrorAndTheRetrySucceeds) {
  Harness h;
  START_OR_SKIP(h);
  MockServer server([](const std::string&, const njson& req) {
    MockReply r;
    int turn = turn_of(req);
    if (turn == 1)  // `cmd` is not a parameter of bash; `command` is required
      r.events = test::chat_events("", "", {call("bash", {{"cmd", "echo hi > hi.txt"}})});
    else if (turn == 2)
      r.events = test::chat_events("Oops, the parameter is `command`.", "", {call("bash", {{"command", "echo hi > hi.txt"}})});
    else
      r.events = test::chat_events("", "wrote hi.txt");
    return r;
  });
  auto backend = make_openai_backend(mock_config(server));
  auto result = h.run(*backend, "write hi");
  ASSERT_EQ(result.status, "done") << result.error;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  std::string error = reqs[1]["messages"][3]["content"];
  EXPECT_NE(error.find("command"), std::string::npos) << error;
  EXPECT_NE(error.find("cmd"), std::string::npos) << error;
  auto results = h.of_type("tool_result");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0]["ok"]);
  EXPECT_TRUE(results[1]["ok"]);
  EXPECT_EQ(h.read_workspace_file("hi.txt"), "hi\n");
}

TEST(AgentE2E, ConnectionDroppedMidStreamIsReportedAndRetried) {
  Harness h;
  START_OR_SKIP(h);
  std::atomic<int> attempts{0};
  MockServer server([&](const std::string&, const njson& req) {
    MockReply r = multi_step(req);
    if (attempts++ == 1) r.drop_after = 4;  // the second request dies mid-stream
    return r;
  });
  auto backend = make_openai_backend(mock_config(server));
  auto result = h.run(*backend, "compute 6*7 with a script");
  ASSERT_EQ(result.status, "done") << result.error;
  auto retries = h.of_type("retry");
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_NE(retries[0]["reason"].get<std::string>().find("connection lost mid-response"), std::string::npos) << retries[0];
  EXPECT_EQ(server.requests().size(), 5u);
  EXPECT_EQ(result.answer, "The script printed 42\n");
}

TEST(AgentE2E, ServerThatKeepsFailingEndsTheTaskWithAClearError) {
  Harness h;
  START_OR_SKIP(h);
  MockServer server([](const std::string&, const njson&) {
    MockReply r;
    r.status = 500;
    r.body = R"({"error": {"message": "model overloaded"}})";
    return r;
  });
  auto backend = make_openai_backend(mock_config(server));
  auto result = h.run(*backend, "anything");
  EXPECT_EQ(result.status, "error");
  EXPECT_NE(result.error.find("giving up after 3 attempts"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("model overloaded"), std::string::npos) << result.error;
}

// The same multi-step task through raw /completions: the mock reads the rendered V4 prompt and
// answers with DSML text, which the runtime parses.
TEST(AgentE2E, SameTaskThroughTheCompletionsBackend) {
  Harness h;
  START_OR_SKIP(h);
  auto dsml_call = [](const std::string& name, const std::vector<std::pair<std::string, std::string>>& params) {
    std::string s = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"" + name + "\">\n";
    for (const auto& [k, v] : params) s += "<｜DSML｜parameter name=\"" + k + "\" string=\"true\">" + v + "</｜DSML｜parameter>\n";
    return s + "</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>";
  };
  MockServer server([&](const std::string& path, const njson& req) {
    MockReply r;
    if (path != "/v1/completions") {
      r.status = 404;
      return r;
    }
    std::string prompt = req["prompt"];
    size_t results = 0;
    for (size_t at = prompt.find("<tool_result>"); at != std::string::npos; at = prompt.find("<tool_result>", at + 1)) ++results;
    std::string text;
    if (results == 0) text = "I will write a script first.</think>" + dsml_call("write_file", {{"path", "run.sh"}, {"content", "echo $((6 * 7))\n"}});
    else if (results == 1) text = "Now run it.</think>" + dsml_call("bash", {{"command", "sh run.sh > out.txt"}});
    else if (results == 2) text = "Read the output.</think>" + dsml_call("read_file", {{"path", "out.txt"}});
    else {
      auto start = prompt.rfind("<tool_result>") + 13;
      text = "Done.</think>The script printed " + prompt.substr(start, prompt.find("</tool_result>", start) - start) + "<｜end▁of▁sentence｜>";
    }
    r.events = test::completion_events(text);
    return r;
  });
  auto backend = make_completions_backend(mock_config(server));
  auto result = h.run(*backend, "compute 6*7 with a script");
  ASSERT_EQ(result.status, "done") << result.error;
  EXPECT_EQ(result.answer, "The script printed 42\n");
  EXPECT_EQ(h.read_workspace_file("out.txt"), "42\n");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  std::string last = reqs[3]["prompt"];
  EXPECT_TRUE(last.starts_with(std::string(dsml::kBos))) << last.substr(0, 100);
  EXPECT_NE(last.find("## Tools"), std::string::npos);
  EXPECT_NE(last.find("\"name\": \"edit_file\""), std::string::npos);
  // Earlier reasoning and the sampled DSML blocks are part of the prompt, in order.
  size_t r1 = last.find("I will write a script first.</think>");
  size_t r2 = last.find("Now run it.</think>");
  size_t r3 = last.find("Read the output.</think>");
  ASSERT_NE(r1, std::string::npos);
  ASSERT_NE(r2, std::string::npos);
  ASSERT_NE(r3, std::string::npos);
  EXPECT_LT(r1, r2);
  EXPECT_LT(r2, r3);
  EXPECT_NE(last.find("<tool_result>42\n</tool_result>"), std::string::npos);
  EXPECT_TRUE(last.ends_with("<｜Assistant｜><think>"));
}

TEST(AgentE2E, CtrlCStopsARunningToolCallPromptly) {
  Harness h;
  START_OR_SKIP(h);
  auto backend = make_replay_backend({njson{{"tool_calls", {{{"name", "bash"}, {"arguments", R"({"command": "sleep 30"})"}}}}}}, true);
  auto t0 = std::chrono::steady_clock::now();
  auto result = h.run_and_cancel(*backend, "sleep", std::chrono::milliseconds(300));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(result.status, "cancelled");
  EXPECT_LT(secs, 5.0) << "cancel must not wait for the 30 s command";
  auto results = h.of_type("tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0]["ok"]);
}

TEST(AgentE2E, CtrlCEndsTheToolCallButNotEarlierBackgroundJobs) {
  Harness h;
  START_OR_SKIP(h);
  auto starter = make_replay_backend(
      {njson{{"tool_calls", {{{"name", "bash"}, {"arguments", R"({"command": "sleep 60", "background": true})"}}}}},
       njson{{"text", "started"}}});
  ASSERT_EQ(h.run(*starter, "start a server").status, "done");
  auto sleeper = make_replay_backend({njson{{"tool_calls", {{{"name", "bash"}, {"arguments", R"({"command": "sleep 30"})"}}}}}}, true);
  auto result = h.run_and_cancel(*sleeper, "sleep", std::chrono::milliseconds(300));
  EXPECT_EQ(result.status, "cancelled");
  // The job of the first task is still there: Ctrl-C ended the cancelled command's group alone.
  auto status = make_replay_backend(
      {njson{{"tool_calls", {{{"name", "bash_status"}, {"arguments", R"({"job": 1})"}}}}}, njson{{"text", "ok"}}});
  h.events.clear();
  ASSERT_EQ(h.run(*status, "is it running?").status, "done");
  auto results = h.of_type("tool_result");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_NE(results[0].dump().find("is running"), std::string::npos) << results[0].dump();
}

TEST(AgentE2E, MaxTurnsEndsALoopingModel) {
  Harness h;
  START_OR_SKIP(h);
  h.cfg.limits.max_turns = 3;
  auto backend = make_replay_backend({njson{{"text", "again</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"bash\">\n"
                                                     "<｜DSML｜parameter name=\"command\" string=\"true\">true</｜DSML｜parameter>\n"
                                                     "</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>"}}},
                                     true);
  auto result = h.run(*backend, "loop");
  EXPECT_EQ(result.status, "max_turns");
  EXPECT_EQ(result.turns, 3);
  EXPECT_EQ(result.tool_calls, 3);
}

TEST(AgentE2E, FileToolsEditListSearchAndStayInTheWorkspace) {
  Harness h;
  START_OR_SKIP(h);
  auto c = [](const std::string& name, const njson& args) {
    return njson{{"tool_calls", {{{"name", name}, {"arguments", args.dump()}}}}};
  };
  auto backend = make_replay_backend({
      c("write_file", {{"path", "src/a.txt"}, {"content", "alpha\nbeta\ngamma\nbeta\n"}}),
      c("edit_file", {{"path", "src/a.txt"}, {"edits", {{{"old", "alpha"}, {"new", "ALPHA"}}, {{"old", "gamma"}, {"new", "GAMMA"}}}}}),
      c("edit_file", {{"path", "src/a.txt"}, {"edits", {{{"old", "beta"}, {"new", "x"}}}}}),
      c("read_file", {{"path", "src/a.txt"}, {"offset", 2}, {"limit", 2}}),
      c("list_dir", {{"path", "src"}}),
      c("search", {{"pattern", "GAM+A"}}),
      c("read_file", {{"path", "/etc/passwd"}}),
      c("read_file", {{"path", "../../etc/passwd"}}),
      njson{{"content", "done"}},
  });
  auto result = h.run(*backend, "files");
  ASSERT_EQ(result.status, "done") << result.error;
  auto r = h.of_type("tool_result");
  ASSERT_EQ(r.size(), 8u);
  EXPECT_TRUE(r[0]["ok"]) << r[0];
  EXPECT_TRUE(r[1]["ok"]) << r[1];
  EXPECT_FALSE(r[2]["ok"]) << "beta occurs twice";
  EXPECT_NE(r[2]["text"].get<std::string>().find("occurs 2 times"), std::string::npos) << r[2];
  EXPECT_EQ(r[3]["text"].get<std::string>().substr(0, 11), "beta\nGAMMA\n") << r[3];
  EXPECT_NE(r[3]["text"].get<std::string>().find("offset=4"), std::string::npos) << r[3];
  EXPECT_NE(r[4]["text"].get<std::string>().find("a.txt  22"), std::string::npos) << r[4];
  EXPECT_NE(r[5]["text"].get<std::string>().find("src/a.txt:3:GAMMA"), std::string::npos) << r[5];
  EXPECT_FALSE(r[6]["ok"]) << r[6];
  EXPECT_FALSE(r[7]["ok"]) << r[7];
  EXPECT_EQ(r[7]["text"].get<std::string>().find("root:"), std::string::npos) << r[7];
  EXPECT_EQ(h.read_workspace_file("src/a.txt"), "ALPHA\nbeta\nGAMMA\nbeta\n");
}

TEST(AgentE2E, LongOutputIsCappedAndSaysSo) {
  Harness h;
  START_OR_SKIP(h);
  h.cfg.limits.output_cap_bytes = 1000;
  auto backend = make_replay_backend({njson{{"tool_calls", {{{"name", "bash"}, {"arguments", R"({"command": "seq 1 100000"})"}}}}},
                                      njson{{"content", "ok"}}});
  auto result = h.run(*backend, "flood");
  ASSERT_EQ(result.status, "done") << result.error;
  std::string text = h.of_type("tool_result")[0]["text"];
  EXPECT_LT(text.size(), 1400u);
  EXPECT_NE(text.find("bytes cut"), std::string::npos) << text;
  EXPECT_TRUE(text.starts_with("1\n2\n3\n")) << text.substr(0, 20);
  EXPECT_NE(text.find("[exit code 0]"), std::string::npos);
}

TEST(AgentE2E, BackgroundJobsCanBeInspectedAndStopped) {
  Harness h;
  START_OR_SKIP(h);
  auto c = [](const std::string& name, const njson& args) {
    return njson{{"tool_calls", {{{"name", name}, {"arguments", args.dump()}}}}};
  };
  auto backend = make_replay_backend({
      c("bash", {{"command", "echo started; sleep 60"}, {"background", true}}),
      c("bash", {{"command", "sleep 0.3"}}),
      c("bash_status", {{"job", 1}}),
      c("bash_stop", {{"job", 1}}),
      c("bash_status", {{"job", 1}}),
      njson{{"content", "ok"}},
  });
  auto result = h.run(*backend, "jobs");
  ASSERT_EQ(result.status, "done") << result.error;
  auto r = h.of_type("tool_result");
  ASSERT_EQ(r.size(), 5u);
  EXPECT_NE(r[0]["text"].get<std::string>().find("background job 1"), std::string::npos) << r[0];
  EXPECT_NE(r[2]["text"].get<std::string>().find("is running"), std::string::npos) << r[2];
  EXPECT_NE(r[2]["text"].get<std::string>().find("started"), std::string::npos) << r[2];
  EXPECT_NE(r[3]["text"].get<std::string>().find("stopped"), std::string::npos) << r[3];
  EXPECT_EQ(r[4]["text"].get<std::string>().find("is running"), std::string::npos) << r[4];
}

}  // namespace
}  // namespace whalebox::agent
