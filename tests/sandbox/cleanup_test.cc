// Nothing outlives a sandbox: many create/exec/destroy cycles leave no process, mount, cgroup or
// fd behind; setsid/double-fork processes die with it; a kill -9 of the runtime mid-command takes
// the sandbox down and the next runtime removes its cgroups.
#include <csignal>
#include <sys/wait.h>

#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

using namespace std::chrono_literals;

// WHALEBOX_SANDBOX_CYCLES overrides the count (the 1,000-cycle figure is measured by hand with it).
int cycle_count() {
  const char* env = std::getenv("WHALEBOX_SANDBOX_CYCLES");
  return env ? std::max(1, std::atoi(env)) : 200;
}

TEST_F(SandboxTest, CreateExecDestroyCyclesLeaveNothingBehind) {
  { auto warm = create(); }  // first-use allocations (cgroup base dirs, thread pools) happen here
  size_t fds = open_fds();
  size_t mounts = count_lines(slurp("/proc/self/mountinfo"));
  int cycles = cycle_count();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < cycles; ++i) {
    auto box = create();
    ExecRequest req;
    req.argv = {"true"};
    auto r = box->exec(req);
    ASSERT_TRUE(r.status.ok()) << "cycle " << i << ": " << r.status.error;
    ASSERT_EQ(r.exit_code, 0);
    ASSERT_TRUE(box->destroy().ok()) << "cycle " << i;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cerr << cycles << " cycles in " << secs << " s (" << secs * 1000 / cycles << " ms each)\n";
  EXPECT_EQ(open_fds(), fds) << "fds leaked";
  EXPECT_EQ(count_lines(slurp("/proc/self/mountinfo")), mounts);
  EXPECT_EQ(sandbox_processes(), std::vector<int>{});
  EXPECT_EQ(sandbox_cgroups(), std::vector<std::string>{});
  // No zombies either: every init was reaped.
  std::string children = slurp("/proc/self/task/" + std::to_string(::getpid()) + "/children");
  EXPECT_EQ(children, "");
}

TEST_F(SandboxTest, SetsidAndDoubleForkDieWithTheSandbox) {
  auto box = create();
  auto r = sh(*box, "setsid sh -c 'sleep 1001 & sleep 1002' >/dev/null 2>&1 & "
                    "(sh -c 'nohup sleep 1003 >/dev/null 2>&1 &') ; "
                    "setsid -f sleep 1004 >/dev/null 2>&1; echo ok");
  ASSERT_EQ(r.stdout_data, "ok\n") << r.stderr_data;
  std::this_thread::sleep_for(200ms);
  EXPECT_GE(sandbox_processes().size(), 4u);
  ASSERT_TRUE(box->destroy().ok());
  EXPECT_EQ(sandbox_processes(), std::vector<int>{});
}

TEST_F(SandboxTest, KillNineOfTheRuntimeMidCommand) {
  pid_t runtime = ::fork();
  if (runtime == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(WHALEBOX_RUNTIME_CHILD_BIN, "runtime_child", workspace_.c_str(), "setsid sleep 1005 & sleep 1006", nullptr);
    _exit(127);
  }
  ASSERT_GT(runtime, 0);
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (sandbox_processes(runtime).size() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_GE(sandbox_processes(runtime).size(), 3u) << "the sandboxed command never started";
  ::kill(runtime, SIGKILL);
  ::waitpid(runtime, nullptr, 0);
  // Init notices the dead control channel (and PDEATHSIG): everything inside dies promptly.
  deadline = std::chrono::steady_clock::now() + 5s;
  while (!sandbox_processes(runtime).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(sandbox_processes(runtime), std::vector<int>{});
  // Its cgroups remain until a runtime starts again and reaps them.
  EXPECT_FALSE(sandbox_cgroups(runtime).empty());
  SyncRuntime next;
  EXPECT_EQ(sandbox_cgroups(runtime), std::vector<std::string>{});
}

}  // namespace
}  // namespace whalebox::sandbox::testing
