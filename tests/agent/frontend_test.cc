// The front ends as people and scripts use them: `chat` in a pseudo-terminal, `run --json`, and
// `batch` killed with SIGKILL mid-run and restarted.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "sandbox/sandbox.h"
#include "tests/agent/harness.h"
#include "tests/agent/mock_server.h"
#include "tests/agent/process.h"

namespace whalebox::agent {
namespace {

using test::MockReply;
using test::MockServer;
using njson = nlohmann::json;
namespace fs = std::filesystem;

#define SKIP_WITHOUT_SANDBOX()                                                      \
  do {                                                                              \
    auto report = sandbox::probe();                                                 \
    if (!report.process_backend_usable())                                           \
      GTEST_SKIP() << "the process sandbox cannot run here: " << report.problems[0]; \
  } while (0)

int turn_of(const njson& request) {
  int n = 1;
  for (const auto& m : request["messages"])
    if (m["role"] == "assistant") ++n;
  return n;
}

njson call(const std::string& name, const njson& args) { return {{"name", name}, {"arguments", args.dump()}}; }

std::string first_user(const njson& request) {
  for (const auto& m : request["messages"])
    if (m["role"] == "user") return m["content"];
  return "";
}

std::vector<njson> read_lines(const std::string& path) {
  std::vector<njson> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(njson::parse(line));
  return out;
}

TEST(ChatShell, PromptApprovalResultAndExitInATerminal) {
  SKIP_WITHOUT_SANDBOX();
  MockServer server([](const std::string&, const njson& req) {
    MockReply r;
    if (turn_of(req) == 1)
      r.events = test::chat_events("The user wants a file.", "", {call("write_file", {{"path", "hello.txt"}, {"content", "hi there\n"}})});
    else
      r.events = test::chat_events("Written.", "Created hello.txt for you.");
    return r;
  });
  std::string home = test::temp_dir("chat-home"), ws = test::temp_dir("chat-ws");
  test::PtyProcess chat({WHALEBOX_BINARY, "chat", "--base-url", server.base_url(), "--api-key-env", "",
                         "--workspace", ws, "--approve", "ask"},
                        {"HOME=" + home, "TERM=xterm"});
  ASSERT_TRUE(chat.expect("whalebox>")) << chat.output();
  chat.send("please create hello.txt\r");
  ASSERT_TRUE(chat.expect("The user wants a file.")) << chat.output();  // reasoning streamed
  ASSERT_TRUE(chat.expect("Allow write_file")) << chat.output();
  EXPECT_FALSE(fs::exists(ws + "/hello.txt")) << "ran before it was approved";
  chat.send("y\r");
  ASSERT_TRUE(chat.expect("Created hello.txt for you.")) << chat.output();
  ASSERT_TRUE(chat.expect("whalebox>")) << chat.output();
  chat.send("/tools\r");
  ASSERT_TRUE(chat.expect("edit_file")) << chat.output();
  chat.send("/exit\r");
  EXPECT_EQ(chat.wait(), 0) << chat.output();
  EXPECT_EQ(test::slurp(ws + "/hello.txt"), "hi there\n");
  EXPECT_NE(chat.output().find("\x1b[2m"), std::string::npos) << "reasoning is dimmed on a terminal";
  fs::remove_all(home);
  fs::remove_all(ws);
}

TEST(ChatShell, WithoutATerminalReadsLinesAndRefusesUnapprovedChanges) {
  SKIP_WITHOUT_SANDBOX();
  MockServer server([](const std::string&, const njson& req) {
    MockReply r;
    if (turn_of(req) == 1)
      r.events = test::chat_events("", "", {call("write_file", {{"path", "x.txt"}, {"content", "x"}})});
    else
      r.events = test::chat_events("", "answer: " + test::last_content(req, "tool"));
    return r;
  });
  std::string dir = test::temp_dir("chat-pipe"), ws = dir + "/ws";
  { std::ofstream(dir + "/in") << "make x\n/exit\n"; }
  std::string cmd = std::string(WHALEBOX_BINARY) + " chat --base-url " + server.base_url() +
                    " --api-key-env '' --workspace " + ws + " < " + dir + "/in > " + dir + "/out 2> " + dir + "/err";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << test::slurp(dir + "/err");
  std::string out = test::slurp(dir + "/out"), err = test::slurp(dir + "/err");
  EXPECT_NE(err.find("stdin is not a terminal"), std::string::npos) << err;
  EXPECT_NE(out.find("answer: refused"), std::string::npos) << out;
  EXPECT_EQ(out.find("\x1b["), std::string::npos) << "no colours into a file";
  EXPECT_FALSE(fs::exists(ws + "/x.txt"));
  fs::remove_all(dir);
}

TEST(RunCommand, JsonEventStreamEndsWithTheFinalResult) {
  SKIP_WITHOUT_SANDBOX();
  MockServer server([](const std::string&, const njson& req) {
    MockReply r;
    if (turn_of(req) == 1) r.events = test::chat_events("r", "", {call("bash", {{"command", "echo 42"}})});
    else r.events = test::chat_events("", "It is " + test::last_content(req, "tool").substr(0, 2) + ".");
    return r;
  });
  std::string dir = test::temp_dir("run");
  pid_t pid = test::spawn({WHALEBOX_BINARY, "run", "what is 6*7", "--json", "--base-url", server.base_url(),
                           "--api-key-env", "", "--workspace", dir + "/ws"},
                          dir + "/out", dir + "/err");
  ASSERT_EQ(test::wait_exit(pid), 0) << test::slurp(dir + "/err");
  auto events = read_lines(dir + "/out");
  ASSERT_FALSE(events.empty());
  std::set<std::string> types;
  for (const auto& e : events) types.insert(e["type"]);
  for (const char* t : {"turn", "reasoning", "content", "assistant", "tool_call", "tool_result", "final"})
    EXPECT_TRUE(types.count(t)) << t;
  EXPECT_EQ(events.back()["type"], "final");
  EXPECT_EQ(events.back()["status"], "done");
  EXPECT_EQ(events.back()["answer"], "It is 42.");
  fs::remove_all(dir);
}

// `run --json` on the embedded whale-tiny: every turn's usage says how much of its prompt was
// served from the KV cache. After turn 1 the cache holds the previous prompt and every token
// generated, so a later turn processes only what the conversation appended — unless its
// re-rendered prompt does not extend the cached text, which must then be logged as a re-prefill.
TEST(RunCommand, EmbeddedBackendReportsCachedAndProcessedPromptTokens) {
  SKIP_WITHOUT_SANDBOX();
  std::string model = std::string(WHALEBOX_SOURCE_DIR) + "/models/whale-tiny";
  if (!fs::exists(model + "/config.json")) GTEST_SKIP() << model << " is missing";
  std::string dir = test::temp_dir("run-embedded");
  fs::create_directories(dir + "/ws");
  { std::ofstream(dir + "/ws/notes.txt") << "one\ntwo\nthree\n"; }
  pid_t pid = test::spawn({WHALEBOX_BINARY, "run", "How many lines are in notes.txt?", "--json", "--backend", "embedded",
                           "--model", model, "--tools", "whale-tiny", "--max-turns", "3", "--workspace", dir + "/ws"},
                          dir + "/out", dir + "/err");
  int rc = test::wait_exit(pid);
  std::string err = test::slurp(dir + "/err");
  ASSERT_TRUE(rc == 0 || rc == 3) << rc << "\n" << err;
  auto events = read_lines(dir + "/out");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["type"], "final");
  std::vector<njson> turns;
  for (const auto& e : events)
    if (e["type"] == "assistant") turns.push_back(e["usage"]);
  ASSERT_FALSE(turns.empty());
  long prompt_sum = 0;
  for (size_t i = 0; i < turns.size(); ++i) {
    const auto& u = turns[i];
    prompt_sum += u["prompt_tokens"].get<long>();
    EXPECT_EQ(u["prompt_tokens"].get<long>(), u["cached_prompt_tokens"].get<long>() + u["processed_prompt_tokens"].get<long>());
    EXPECT_GT(u["processed_prompt_tokens"].get<long>(), 0);
    EXPECT_GT(u["completion_tokens"].get<long>(), 0);
    if (i == 0) {
      EXPECT_EQ(u["cached_prompt_tokens"], 0);
    } else if (u["cached_prompt_tokens"] != 0) {
      const auto& prev = turns[i - 1];
      EXPECT_EQ(u["cached_prompt_tokens"].get<long>(), prev["prompt_tokens"].get<long>() + prev["completion_tokens"].get<long>());
      EXPECT_LT(u["processed_prompt_tokens"].get<long>(), u["cached_prompt_tokens"].get<long>());
    } else {
      EXPECT_NE(err.find("extends no cached sequence"), std::string::npos) << err;
    }
  }
  EXPECT_EQ(events.back()["usage"]["prompt_tokens"].get<long>(), prompt_sum);
  fs::remove_all(dir);
}

// The mock for batch tasks: "task N" → run `echo N > n.txt`, then answer "done N".
MockServer batch_server(std::chrono::milliseconds gap) {
  return MockServer([gap](const std::string&, const njson& req) {
    MockReply r;
    std::string n = first_user(req).substr(5);
    if (turn_of(req) == 1) r.events = test::chat_events("step", "", {call("bash", {{"command", "echo " + n + " > n.txt"}})});
    else r.events = test::chat_events("", "done " + n);
    r.event_gap = gap;
    return r;
  });
}

std::string write_tasks(const std::string& dir, int n) {
  std::string path = dir + "/tasks.jsonl";
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) out << njson{{"id", "t" + std::to_string(i)}, {"prompt", "task " + std::to_string(i)}}.dump() << "\n";
  return path;
}

TEST(BatchCommand, KilledMidRunAndRestartedRecordsEachTaskExactlyOnce) {
  SKIP_WITHOUT_SANDBOX();
  auto server = batch_server(std::chrono::milliseconds(15));
  std::string dir = test::temp_dir("batch");
  std::string tasks = write_tasks(dir, 50), out = dir + "/results.jsonl";
  std::vector<std::string> argv = {WHALEBOX_BINARY, "batch", tasks, "--out", out, "--concurrency", "8",
                                   "--base-url", server.base_url(), "--api-key-env", ""};
  pid_t pid = test::spawn(argv, dir + "/stdout1", dir + "/stderr1");
  // Wait for some results, then SIGKILL: no chance to clean up or finish a write.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t lines_at_kill = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = test::slurp(out);
    lines_at_kill = std::count(text.begin(), text.end(), '\n');
    if (lines_at_kill >= 12) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  EXPECT_EQ(test::wait_exit(pid), 128 + SIGKILL) << test::slurp(dir + "/stderr1");
  size_t after_kill = read_lines(out).size();
  std::cerr << "[measured] killed with " << after_kill << "/50 results written\n";
  ASSERT_LT(after_kill, 50u) << "the batch finished before it could be killed; the test proves nothing";

  pid = test::spawn(argv, dir + "/stdout2", dir + "/stderr2");
  ASSERT_EQ(test::wait_exit(pid), 0) << test::slurp(dir + "/stderr2");
  auto results = read_lines(out);
  std::set<std::string> ids;
  for (const auto& r : results) {
    EXPECT_TRUE(ids.insert(r["id"]).second) << "duplicate " << r["id"];
    EXPECT_EQ(r["status"], "done") << r;
    EXPECT_EQ(r["answer"], "done " + r["id"].get<std::string>().substr(1)) << r;
  }
  EXPECT_EQ(results.size(), 50u);
  EXPECT_EQ(ids.size(), 50u);
  auto trajectories = read_lines(out + ".trajectories.jsonl");
  std::set<std::string> traj_ids;
  for (const auto& t : trajectories) {
    EXPECT_TRUE(traj_ids.insert(t["id"]).second) << "duplicate trajectory " << t["id"];
    EXPECT_GE(t["messages"].size(), 5u);  // system, user, assistant, tool, assistant
    EXPECT_FALSE(t["events"].empty());
  }
  EXPECT_EQ(traj_ids, ids);
  // A third run has nothing left to do.
  pid = test::spawn(argv, dir + "/stdout3", dir + "/stderr3");
  ASSERT_EQ(test::wait_exit(pid), 0) << test::slurp(dir + "/stderr3");
  EXPECT_EQ(read_lines(out).size(), 50u);
  fs::remove_all(dir);
}

TEST(BatchCommand, ProgressBarOnATerminalOnly) {
  SKIP_WITHOUT_SANDBOX();
  auto server = batch_server(std::chrono::milliseconds(0));
  std::string dir = test::temp_dir("batch-tty");
  std::string tasks = write_tasks(dir, 5);
  auto argv = [&](const std::string& out) {
    return std::vector<std::string>{WHALEBOX_BINARY, "batch", tasks, "--out", out, "--concurrency", "2",
                                    "--base-url", server.base_url(), "--api-key-env", ""};
  };
  test::PtyProcess tty(argv(dir + "/a.jsonl"));
  EXPECT_EQ(tty.wait(), 0) << tty.output();
  EXPECT_NE(tty.output().find("5/5 done"), std::string::npos) << tty.output();
  EXPECT_NE(tty.output().find("tasks/s"), std::string::npos) << tty.output();

  pid_t pid = test::spawn(argv(dir + "/b.jsonl"), dir + "/out", dir + "/err");
  ASSERT_EQ(test::wait_exit(pid), 0);
  std::string err = test::slurp(dir + "/err");
  EXPECT_EQ(err.find("tasks/s"), std::string::npos) << err;
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;
  EXPECT_NE(err.find("5 tasks recorded"), std::string::npos) << err;
  EXPECT_EQ(read_lines(dir + "/b.jsonl").size(), 5u);
  fs::remove_all(dir);
}

// On the embedded engine a batch loads the model once and every task after the first starts
// from the cached system prompt: the same answers as one engine per task, far fewer prompt
// tokens processed.
TEST(BatchCommand, EmbeddedTasksShareTheEngineAndTheSystemPrompt) {
  SKIP_WITHOUT_SANDBOX();
  const std::string model = std::string(WHALEBOX_SOURCE_DIR) + "/models/whale-tiny";
  if (!fs::exists(model + "/config.json")) GTEST_SKIP() << model << " is missing";
  std::string dir = test::temp_dir("batch-embedded");
  {
    std::ofstream f(dir + "/tasks.jsonl");
    for (int i = 1; i <= 4; ++i)
      f << njson{{"id", "t" + std::to_string(i)}, {"prompt", "What is " + std::to_string(7 * i) + " + 5?"}, {"max_turns", 2}}.dump()
        << "\n";
  }
  auto run = [&](const std::string& out, const std::string& concurrency) {
    pid_t pid = test::spawn({WHALEBOX_BINARY, "-vv", "batch", dir + "/tasks.jsonl", "--out", out, "--concurrency",
                             concurrency, "--tools", "whale-tiny", "--backend", "embedded", "--model", model},
                            out + ".stdout", out + ".stderr");
    // It takes about a second here. Should it hang, say where before the test's own timeout.
    std::optional<int> rc = test::wait_exit_for(pid, std::chrono::seconds(90));
    if (!rc) {
      std::string threads = test::describe_process_tree(pid);
      kill(pid, SIGKILL);
      test::wait_exit(pid);
      ADD_FAILURE() << "batch --concurrency " << concurrency << " still running after 90 s; its threads:\n"
                    << threads << "results so far:\n" << test::slurp(out) << "stderr:\n" << test::slurp(out + ".stderr");
    } else {
      EXPECT_EQ(*rc, 0) << test::slurp(out + ".stderr");
    }
    std::map<std::string, njson> by_id;
    for (const auto& r : read_lines(out)) by_id[r["id"]] = r;
    return by_id;
  };
  auto one = run(dir + "/one.jsonl", "1");
  auto two = run(dir + "/two.jsonl", "2");
  ASSERT_EQ(one.size(), 4u);
  ASSERT_EQ(two.size(), 4u);
  long processed_first = 0, processed_rest = 0;
  for (const auto& [id, r] : one) {
    EXPECT_EQ(r["status"], two[id]["status"]) << id;
    EXPECT_EQ(r["answer"], two[id]["answer"]) << id;  // sharing changes no output
    EXPECT_EQ(r["usage"]["prompt_tokens"], two[id]["usage"]["prompt_tokens"]) << id;
    (id == "t1" ? processed_first : processed_rest) += r["usage"]["processed_prompt_tokens"].get<long>();
  }
  // Tasks 2-4 process only their own text: each far less than the first, which also computed
  // the system prompt and tool declarations.
  EXPECT_GT(processed_first, 0);
  EXPECT_LT(processed_rest, processed_first * 3 / 2) << processed_first << " vs " << processed_rest;
  fs::remove_all(dir);
}

TEST(BatchCommand, BadTaskFilesAreRejectedWithTheLine) {
  std::string dir = test::temp_dir("batch-bad");
  { std::ofstream(dir + "/t.jsonl") << "{\"id\": \"a\", \"prompt\": \"x\"}\n{\"prompt\": \"no id\"}\n"; }
  pid_t pid = test::spawn({WHALEBOX_BINARY, "batch", dir + "/t.jsonl", "--out", dir + "/o.jsonl"}, dir + "/out", dir + "/err");
  EXPECT_EQ(test::wait_exit(pid), 1);
  EXPECT_NE(test::slurp(dir + "/err").find("t.jsonl:2: needs an \"id\""), std::string::npos) << test::slurp(dir + "/err");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace whalebox::agent
