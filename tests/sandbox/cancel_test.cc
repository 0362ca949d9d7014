// Per-exec cancellation (CancelHandle): ends one command's process group, nothing else.
#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

using namespace std::chrono_literals;

int count_sleeps(SyncSandbox& box, const std::string& arg) {
  ExecRequest req;
  req.shell = "for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\\0' ' '; echo; done | grep -c '^sleep " + arg + "'";
  auto r = box.exec(req);
  return std::atoi(r.stdout_data.c_str());
}

TEST_F(SandboxTest, CancelEndsOneExecAndSparesBackgroundJobs) {
  auto box = create();
  // A background server left by an earlier exec (what an agent starts), and one started in the
  // background by another exec that is still running.
  ASSERT_EQ(sh(*box, "nohup sleep 301 >/dev/null 2>&1 & echo started").stdout_data, "started\n");
  std::promise<ExecResult> other;
  ExecRequest other_req;
  other_req.shell = "sleep 302";
  box->async().exec(other_req, {}, [&](ExecResult r) { other.set_value(std::move(r)); });

  auto handle = std::make_shared<CancelHandle>();
  ExecRequest req;
  req.shell = "sleep 303 & sleep 304; echo not-reached";
  req.cancel = handle;
  std::promise<ExecResult> cancelled;
  auto start = std::chrono::steady_clock::now();
  box->async().exec(req, {}, [&](ExecResult r) { cancelled.set_value(std::move(r)); });
  for (int i = 0; i < 100 && count_sleeps(*box, "304") == 0; ++i) std::this_thread::sleep_for(20ms);
  handle->cancel();
  auto r = cancelled.get_future().get();
  EXPECT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // The cancelled command's group is gone, its own background job included...
  EXPECT_EQ(count_sleeps(*box, "303"), 0);
  EXPECT_EQ(count_sleeps(*box, "304"), 0);
  // ...everything else lives on: the earlier background job and the other running exec.
  EXPECT_EQ(count_sleeps(*box, "301"), 1);
  EXPECT_EQ(count_sleeps(*box, "302"), 1);
  auto fut = other.get_future();
  EXPECT_EQ(fut.wait_for(0ms), std::future_status::timeout) << "the other exec must still run";
  ASSERT_TRUE(box->kill().ok());
  EXPECT_FALSE(fut.get().cancelled);
  // Cancelling after the exec ended does nothing.
  handle->cancel();
  expect_still_works(*box);
}

TEST_F(SandboxTest, CancelDeliversTheRequestedSignal) {
  auto box = create();
  auto handle = std::make_shared<CancelHandle>();
  ExecRequest req;
  req.shell = "trap 'echo interrupted; exit 3' INT; echo ready; sleep 300 & wait";
  req.cancel = handle;
  std::promise<ExecResult> done;
  std::promise<void> ready;
  bool signalled = false;
  box->async().exec(req, [&](Stream, std::string_view chunk) {
    if (!signalled && chunk.find("ready") != std::string_view::npos) signalled = true, ready.set_value();
  }, [&](ExecResult r) { done.set_value(std::move(r)); });
  ASSERT_EQ(ready.get_future().wait_for(20s), std::future_status::ready);
  std::this_thread::sleep_for(100ms);  // the shell reaches `wait`
  handle->cancel(SIGINT);              // an agent's first Ctrl-C
  auto r = done.get_future().get();
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.exit_code, 3) << r.stdout_data << r.stderr_data;
  EXPECT_EQ(r.stdout_data, "ready\ninterrupted\n");
}

TEST_F(SandboxTest, CancelBeforeStartRunsNothing) {
  auto box = create();
  auto handle = std::make_shared<CancelHandle>();
  handle->cancel();
  ExecRequest req;
  req.shell = "touch ran";
  req.cancel = handle;
  auto r = box->exec(req);
  EXPECT_FALSE(r.status.ok());
  EXPECT_TRUE(r.cancelled);
  EXPECT_NE(r.status.error.find("cancelled"), std::string::npos) << r.status.error;
  std::string content;
  EXPECT_FALSE(box->get_file("ran", content).ok()) << "the command must not have run";
  expect_still_works(*box);
}

}  // namespace
}  // namespace whalebox::sandbox::testing
