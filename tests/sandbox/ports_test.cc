// `ports` network policy: listed host loopback ports reachable inside, nothing else.
#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(SandboxTest, PortsPolicyForwardsOnlyTheListedHostPorts) {
  HostListener allowed, other;
  ASSERT_NE(allowed.port, 0);
  ASSERT_NE(other.port, 0);
  SandboxSpec s = spec();
  s.network.mode = NetworkPolicy::Mode::ports;
  s.network.ports = {allowed.port};
  auto box = create(s);

  auto r = sh(*box, client(allowed.port));
  ASSERT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_EQ(r.stdout_data, "hello from host " + std::to_string(allowed.port) + "\necho me\n") << r.stderr_data;
  EXPECT_EQ(allowed.accepted, 1);

  // Another host port is not reachable: nothing listens on it inside the namespace.
  r = sh(*box, client(other.port));
  EXPECT_EQ(r.stdout_data, "error 111\n") << r.stderr_data;  // ECONNREFUSED
  EXPECT_EQ(other.accepted, 0);

  // No other egress: still only loopback, no route to anywhere.
  r = sh(*box, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; cat /proc/net/route | tail -n +2 | wc -l");
  EXPECT_EQ(r.stdout_data, "lo\n0\n");
  r = sh(*box, "python3 -c \"import socket\ntry: socket.create_connection(('192.0.2.1',80),timeout=3)\nexcept OSError as e: print('error', e.errno)\"");
  EXPECT_EQ(r.stdout_data, "error 101\n") << r.stderr_data;  // ENETUNREACH
  // Several connections at once, each spliced on its own.
  r = sh(*box, "for i in 1 2 3; do " + client(allowed.port) + " & done; wait");
  EXPECT_EQ(count_lines(r.stdout_data), 6u) << r.stdout_data << r.stderr_data;
  EXPECT_EQ(allowed.accepted, 4);
  expect_still_works(*box);
}

TEST_F(SandboxTest, PortsPolicyToAClosedHostPortResetsTheClient) {
  uint16_t closed;
  {
    HostListener gone;  // take a free port, then close it
    closed = gone.port;
  }
  SandboxSpec s = spec();
  s.network.mode = NetworkPolicy::Mode::ports;
  s.network.ports = {closed};
  auto box = create(s);
  // The listener inside accepts, the host side refuses: the client sees the connection end.
  auto r = sh(*box, "python3 -c \"import socket\ns=socket.create_connection(('127.0.0.1'," + std::to_string(closed) +
                        "),timeout=5)\nprint(repr(s.recv(10)))\" 2>&1 | tail -1");
  EXPECT_TRUE(r.stdout_data == "b''\n" || r.stdout_data.find("Connection reset") != std::string::npos) << r.stdout_data;
  expect_still_works(*box);
}

TEST_F(SandboxTest, PooledSandboxIsTheRequestedOne) {
  SyncRuntime pooled;  // the default backend
  std::this_thread::sleep_for(500ms);  // let it build its sandbox ahead
  HostListener host;
  SandboxSpec s = spec();
  s.hostname = "pooled-box";
  s.limits.tmpfs_bytes = 2 * MiB;
  s.limits.pids = 16;
  s.network.mode = NetworkPolicy::Mode::ports;
  s.network.ports = {host.port};
  auto box = pooled.create(s);
  ASSERT_TRUE(box->put_file("mine.txt", "this workspace\n").ok());
  auto r = sh(*box, "cat /workspace/mine.txt; hostname; df -k /tmp | tail -1 | tr -s ' ' | cut -d' ' -f2; "
                    "touch /usr/x 2>&1 | grep -c Read-only; " + client(host.port) + " | head -1");
  ASSERT_TRUE(r.status.ok()) << r.status.error;
  EXPECT_EQ(r.stdout_data, "this workspace\npooled-box\n2048\n1\nhello from host " + std::to_string(host.port) + "\n")
      << r.stderr_data;
  Stats st;
  ASSERT_TRUE(box->stats(st).ok());
  EXPECT_TRUE(st.from_pool) << "the backend had half a second to build one ahead";
  bool timed_attach = false;
  for (const auto& [name, ms] : st.setup_ms) timed_attach |= name == "init.attach_workspace";
  EXPECT_TRUE(timed_attach);
}

}  // namespace
}  // namespace whalebox::sandbox::testing
