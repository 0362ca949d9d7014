// The process sandbox's everyday behaviour: exec results, environment, identity, concurrency,
// background processes, stats, kill, lifetime and idle timeouts, spec validation, probe.
#include <thread>

#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(SandboxTest, RunsACommandAndReportsItsExit) {
  auto box = create();
  auto r = sh(*box, "echo out; echo err >&2; exit 7");
  ASSERT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.stdout_data, "out\n");
  EXPECT_EQ(r.stderr_data, "err\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.truncated());
  EXPECT_GT(r.wall_ms, 0);
}

TEST_F(SandboxTest, ArgvStdinEnvAndCwd) {
  auto box = create();
  ASSERT_TRUE(sh(*box, "mkdir -p sub").status.ok());
  ExecRequest req;
  req.argv = {"sh", "-c", "cat; echo \"[$GREETING]\"; pwd; echo \"$HOME\""};
  req.stdin_data = "from stdin\n";
  req.env = {"GREETING=hi there"};
  req.cwd = "sub";
  auto r = box->exec(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_EQ(r.stdout_data, "from stdin\n[hi there]\n/workspace/sub\n/workspace\n");
}

TEST_F(SandboxTest, MissingProgramIsExit127WithAMessage) {
  auto box = create();
  ExecRequest req;
  req.argv = {"no-such-program-xyz"};
  auto r = box->exec(req);
  ASSERT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.stderr_data.find("no-such-program-xyz"), std::string::npos) << r.stderr_data;
}

TEST_F(SandboxTest, IdentityIsRootInsideButNotOutside) {
  auto box = create();
  auto r = sh(*box, "id -u; id -g; hostname; touch /workspace/made-inside; cat /proc/self/status | grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):'");
  ASSERT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_NE(r.stdout_data.find("0\n0\nsandbox\n"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("CapEff:\t0000000000000000"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("CapBnd:\t0000000000000000"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("NoNewPrivs:\t1"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stdout_data.find("Seccomp:\t2"), std::string::npos) << r.stdout_data;
  struct stat st;
  ASSERT_EQ(::stat((workspace_ + "/made-inside").c_str(), &st), 0);
  if (::geteuid() == 0) EXPECT_EQ(st.st_uid, ProcessBackendOptions{}.host_uid) << "in-sandbox root must map to an unprivileged host uid";
  else EXPECT_EQ(st.st_uid, ::geteuid());
}

TEST_F(SandboxTest, OnlyLoopbackNetwork) {
  auto box = create();
  auto r = sh(*box, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.stdout_data, "lo\n");
  // Loopback is up: a server and a client inside can talk.
  r = sh(*box, "python3 -c \"import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); c=socket.create_connection(s.getsockname()); print('connected')\"");
  EXPECT_EQ(r.stdout_data, "connected\n") << r.stderr_data;
}

TEST_F(SandboxTest, ConcurrentExecsInOneSandbox) {
  auto box = create();
  std::vector<std::promise<ExecResult>> results(6);
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < results.size(); ++i) {
    ExecRequest req;
    req.shell = "sleep 1; echo " + std::to_string(i);
    box->async().exec(req, {}, [&results, i](ExecResult r) { results[i].set_value(std::move(r)); });
  }
  for (size_t i = 0; i < results.size(); ++i) {
    auto r = results[i].get_future().get();
    ASSERT_TRUE(r.status.ok()) << r.status.error;
    EXPECT_EQ(r.stdout_data, std::to_string(i) + "\n");
  }
  // Six one-second sleeps ran at once, not one after the other.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(SandboxTest, StreamsOutputChunksAsTheyArrive) {
  auto box = create();
  std::string streamed;
  ExecRequest req;
  req.shell = "for i in 1 2 3; do echo line$i; done; echo e >&2";
  auto r = box->exec(req, [&](Stream s, std::string_view chunk) {
    if (s == Stream::out) streamed += chunk;
  });
  EXPECT_EQ(streamed, "line1\nline2\nline3\n");
  EXPECT_EQ(r.stdout_data, streamed);
}

TEST_F(SandboxTest, BackgroundProcessesSurviveUntilDestroy) {
  auto box = create();
  auto r = sh(*box, "nohup sleep 300 >/dev/null 2>&1 & echo started");
  ASSERT_EQ(r.stdout_data, "started\n");
  EXPECT_LT(r.wall_ms, 3000) << "exec must return when its main process exits";
  // The first exec returns once its shell exits; the background child may not have exec'd
  // `sleep` yet (nohup runs first), so the next exec looks for it for up to 2 s. A background
  // process that the first exec's end had killed never shows up.
  r = sh(*box, "for i in $(seq 40); do n=$(for p in /proc/[0-9]*; do cat $p/cmdline | tr '\\0' ' '; echo; done"
               " | grep -c '^sleep 300'); [ \"$n\" = 1 ] && break; sleep 0.05; done; echo $n");
  EXPECT_EQ(r.stdout_data, "1\n") << "the background process must still run in the next exec";
  EXPECT_FALSE(sandbox_processes().empty());
  ASSERT_TRUE(box->destroy().ok());
  EXPECT_EQ(sandbox_processes(), std::vector<int>{});
}

TEST_F(SandboxTest, KillEndsEverythingButKeepsTheSandbox) {
  auto box = create();
  std::promise<ExecResult> running;
  ExecRequest req;
  req.shell = "sleep 300";
  box->async().exec(req, {}, [&](ExecResult r) { running.set_value(std::move(r)); });
  sh(*box, "nohup sleep 301 >/dev/null 2>&1 &");
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(box->kill().ok());
  auto r = running.get_future().get();
  EXPECT_EQ(r.signal, SIGKILL);
  auto after = sh(*box, "ls /proc | grep -c '^[0-9]'");
  // Left: init, the shell running this and its grep/ls children at most.
  EXPECT_LE(std::atoi(after.stdout_data.c_str()), 4) << after.stdout_data;
  expect_still_works(*box);
}

TEST_F(SandboxTest, StatsReportTheCgroup) {
  auto box = create();
  sh(*box, "head -c 20000000 /dev/zero | tail -c 1 >/dev/null");
  Stats s;
  ASSERT_TRUE(box->stats(s).ok());
  EXPECT_TRUE(s.alive);
  EXPECT_GE(s.pids, 1u);
  EXPECT_GT(s.memory_peak_bytes, 0u);
  EXPECT_EQ(s.running_execs, 0u);
}

TEST_F(SandboxTest, LifetimeAndIdleTimeoutsDestroyTheSandbox) {
  SandboxSpec s = spec();
  s.lifetime = 1500ms;
  auto box = create(s);
  auto r = sh(*box, "sleep 30");
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.error.find("lifetime"), std::string::npos) << r.status.error;
  EXPECT_LT(r.wall_ms, 5000);

  SandboxSpec idle = spec();
  idle.idle_timeout = 500ms;
  auto box2 = create(idle);
  EXPECT_TRUE(sh(*box2, "true").status.ok());
  std::this_thread::sleep_for(1500ms);
  auto late = sh(*box2, "true");
  EXPECT_FALSE(late.status.ok());
  EXPECT_NE(late.status.error.find("idle"), std::string::npos) << late.status.error;
}

TEST_F(SandboxTest, BadSpecsAreRejectedWithSpecificErrors) {
  auto expect_error = [&](SandboxSpec s, const std::string& fragment) {
    try {
      create(std::move(s));
      ADD_FAILURE() << "expected an error mentioning " << fragment;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  SandboxSpec s = spec();
  s.workspace.clear();
  expect_error(s, "workspace");
  s = spec();
  s.workspace_mount = "relative";
  expect_error(s, "absolute");
  s = spec();
  s.ro_paths.push_back("/proc/self");
  expect_error(s, "/proc");
  s = spec();
  s.limits.memory_bytes = 1024;
  expect_error(s, "memory");
  s = spec();
  s.limits.pids = 1;
  expect_error(s, "pids");
  s = spec();
  s.env.push_back("NOEQUALS");
  expect_error(s, "KEY=value");
  auto box = create();
  ExecRequest empty;
  EXPECT_FALSE(box->exec(empty).status.ok());
  ExecRequest huge;
  huge.argv = {"echo", std::string(300 * 1024, 'x')};
  auto r = box->exec(huge);
  EXPECT_NE(r.status.error.find("stdin"), std::string::npos) << r.status.error;
  expect_still_works(*box);
}

TEST_F(SandboxTest, ProbeReportsThisHost) {
  auto j = report_.to_json();
  EXPECT_NE(j.find("\"cgroup_mode\""), std::string::npos);
  EXPECT_TRUE(report_.user_namespaces);
  EXPECT_TRUE(report_.seccomp);
  EXPECT_FALSE(report_.cgroup_mode.empty());
}

}  // namespace
}  // namespace whalebox::sandbox::testing
