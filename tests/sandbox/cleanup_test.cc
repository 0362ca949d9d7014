// Nothing outlives a sandbox: many create/exec/destroy cycles leave no process, mount, cgroup or
// fd behind; setsid/double-fork processes die with it; a kill -9 of the runtime mid-command takes
// the sandbox down and the next runtime removes its cgroups.
#include <csignal>
#include <sys/wait.h>

#include "sandbox/cgroup.h"
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
  SyncRuntime pooled;  // the default backend, with its pre-spawned init
  auto create = [&] { return pooled.create(spec()); };
  { auto warm = create(); }  // first-use allocations (cgroup base dirs, thread pools) happen here
  // The backend keeps one pre-spawned init (3 fds) and refills it in the background after each
  // create: compare counts once that refill has settled.
  auto settled_fds = [] {
    size_t n = open_fds();
    for (int i = 0; i < 100; ++i, std::this_thread::sleep_for(20ms))
      if (size_t m = open_fds(); m == n) break;
      else n = m;
    return n;
  };
  std::this_thread::sleep_for(300ms);
  size_t fds = settled_fds();
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
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(settled_fds(), fds) << "fds leaked";
  EXPECT_EQ(count_lines(slurp("/proc/self/mountinfo")), mounts);
  // Only the pre-spawned init and its cgroups remain (one dir per hierarchy)...
  EXPECT_LE(sandbox_processes().size(), 1u);
  EXPECT_LE(sandbox_cgroups().size(), CgroupTree::discover().dirs.size());
  // No zombies either: every init was reaped (what is left is the one pre-spawned init).
  std::string children;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
    children += slurp(task.path().string() + "/children");
  EXPECT_LE(std::count(children.begin(), children.end(), ' '), 1) << children;
}  // ...and TearDown checks that they went with the runtime.

TEST_F(SandboxTest, PooledInitGetsTheSpecLimits) {
  SyncRuntime pooled;
  for (int round = 0; round < 3; ++round) {  // the first create may or may not find the pool filled
    SandboxSpec s = spec();
    s.limits.pids = 8;
    auto box = pooled.create(s);
    auto r = box->exec([] {
      ExecRequest req;
      req.shell = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 2 & done 2>/dev/null; wait; echo done";
      req.timeout = std::chrono::milliseconds(10000);
      return req;
    }());
    EXPECT_TRUE(r.pids_limited) << "round " << round << ": " << r.stdout_data << r.stderr_data;
    std::this_thread::sleep_for(100ms);
  }
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
  // Its cgroups remain until a runtime starts again and reaps them (any runtime under the same
  // cgroup does: under ctest -j another test's runtime may already have).
  SyncRuntime next;
  EXPECT_EQ(sandbox_cgroups(runtime), std::vector<std::string>{});
}

}  // namespace
}  // namespace whalebox::sandbox::testing
