// Escape attempts from spec §6, run by the hostile program tests/sandbox/hostile/escape.c inside a
// sandbox. Each asserts that the attempt was contained and that the runtime and host are unaffected
// (the fixture's TearDown checks processes, cgroups, mounts and /etc/passwd on the host).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

class Hostile : public SandboxTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(Hostile, IsContained) {
  auto box = create();
  install_escape(*box);
  auto r = sh(*box, std::string("./escape ") + GetParam());
  ASSERT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_EQ(r.signal, 0) << r.stdout_data << r.stderr_data;
  EXPECT_EQ(r.exit_code, 0) << "escape " << GetParam() << ":\n" << r.stdout_data << r.stderr_data;
  EXPECT_EQ(r.stdout_data.find("SUCCEEDED"), std::string::npos) << r.stdout_data;
  expect_still_works(*box);
}

INSTANTIATE_TEST_SUITE_P(Sandbox, Hostile,
                         ::testing::Values("ptrace", "mount", "namespaces", "tty", "kernel", "sockets",
                                           "secrets", "system-writes", "fds"));

TEST_F(SandboxTest, RuntimeFdsDoNotLeakIn) {
  // A non-CLOEXEC fd of the runtime (a secret file, say) must not be visible inside.
  int leaked = ::open("/etc/hostname", O_RDONLY);
  ASSERT_GE(leaked, 0);
  auto box = create();
  install_escape(*box);
  auto r = sh(*box, "./escape fds");
  ::close(leaked);
  EXPECT_EQ(r.exit_code, 0) << r.stdout_data;
}

TEST_F(SandboxTest, HostLoopbackAndOutsideAddressesAreUnreachable) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);

  auto box = create();
  install_escape(*box);
  auto r = sh(*box, "./escape connect 127.0.0.1 " + std::to_string(port));
  EXPECT_EQ(r.exit_code, 0) << r.stdout_data;
  r = sh(*box, "./escape connect 1.1.1.1 80");
  EXPECT_EQ(r.exit_code, 0) << r.stdout_data;
  r = sh(*box, "./escape connect 10.0.2.2 53");
  EXPECT_EQ(r.exit_code, 0) << r.stdout_data;
  // bash's /dev/tcp and DNS go nowhere either.
  r = sh(*box, "bash -c 'echo x > /dev/tcp/127.0.0.1/" + std::to_string(port) + "' 2>&1; getent hosts example.com; echo rc=$?");
  EXPECT_NE(r.stdout_data.find("rc=2"), std::string::npos) << r.stdout_data;
  // Nothing reached our listener.
  ::fcntl(listener, F_SETFL, O_NONBLOCK);
  EXPECT_LT(::accept(listener, nullptr, nullptr), 0);
  ::close(listener);
}

TEST_F(SandboxTest, ControlChannelCannotBeForged) {
  auto box = create();
  // The init's control socket is not reachable: not through /proc/1/fd, not by signalling init,
  // and no unix socket of the runtime is visible in the sandbox.
  auto r = sh(*box, "ls -l /proc/1/fd 2>&1; kill -9 1; kill -TERM 1; echo sent; cat /proc/net/unix | wc -l");
  EXPECT_NE(r.stdout_data.find("Permission denied"), std::string::npos) << r.stdout_data;
  expect_still_works(*box);
}

TEST_F(SandboxTest, DotFilesWrittenInsideStayInTheWorkspace) {
  auto box = create();
  auto r = sh(*box, "echo 'echo pwned' >> ~/.bashrc; echo 'echo pwned' >> /root/.bashrc 2>&1; echo 'x' > /etc/profile.d/evil.sh 2>&1; true");
  EXPECT_TRUE(std::filesystem::exists(workspace_ + "/.bashrc")) << "HOME is the workspace";
  EXPECT_FALSE(std::filesystem::exists("/etc/profile.d/evil.sh"));
  std::string root_rc = slurp("/root/.bashrc");
  EXPECT_EQ(root_rc.find("pwned"), std::string::npos);
}

}  // namespace
}  // namespace whalebox::sandbox::testing
