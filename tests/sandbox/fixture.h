#pragma once
// Shared fixture of the sandbox tests: skips with the probe's reason where the host cannot run the
// process backend, gives each test a fresh workspace and runtime, and snapshots the host so each
// test can assert that nothing leaked out (processes, mounts, cgroups, fds).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <future>
#include <thread>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "sandbox/sync.h"

namespace whalebox::sandbox::testing {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "; ") + x;
  return s;
}

// Host pids in one of the sandbox cgroups of the runtime `runtime_pid`.
inline std::vector<int> sandbox_processes(int runtime_pid = ::getpid()) {
  std::vector<int> found;
  std::string tag = "/whalebox/" + std::to_string(runtime_pid) + ".";
  DIR* d = ::opendir("/proc");
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string cg = slurp("/proc/" + std::to_string(pid) + "/cgroup");
    if (cg.find(tag) != std::string::npos) found.push_back(pid);
  }
  if (d) ::closedir(d);
  return found;
}

// Sandbox cgroup dirs of the runtime `runtime_pid` in any hierarchy.
inline std::vector<std::string> sandbox_cgroups(int runtime_pid = ::getpid()) {
  std::vector<std::string> found;
  std::string prefix = std::to_string(runtime_pid) + ".";
  std::istringstream in(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" - cgroup") == std::string::npos) continue;
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    // Walk every "whalebox" dir below the mount point (our own cgroup differs per hierarchy).
    std::vector<std::string> stack = {point};
    while (!stack.empty()) {
      std::string dir = stack.back();
      stack.pop_back();
      DIR* d = ::opendir(dir.c_str());
      if (!d) continue;
      while (dirent* e = ::readdir(d)) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        std::string sub = dir + "/" + e->d_name;
        if (dir.size() >= 9 && dir.compare(dir.size() - 9, 9, "/whalebox") == 0) {
          if (std::string(e->d_name).rfind(prefix, 0) == 0) found.push_back(sub);
          continue;
        }
        if (stack.size() < 64 && sub.size() < 300) stack.push_back(sub);
      }
      ::closedir(d);
    }
  }
  return found;
}

// A "Key:   123 kB" value of /proc/self/status.
inline uint64_t keyed_status(const std::string& key) {
  std::string s = slurp("/proc/self/status");
  auto at = s.find(key);
  return at == std::string::npos ? 0 : std::strtoull(s.c_str() + at + key.size(), nullptr, 10);
}

inline size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }
inline size_t open_fds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = d ? ::readdir(d) : nullptr) n += e->d_name[0] != '.';
  if (d) ::closedir(d);
  return n;
}

// A listener on the host's 127.0.0.1 that greets each client, echoes one line back and counts.
struct HostListener {
  int fd = -1;
  uint16_t port = 0;
  std::atomic<int> accepted{0};
  std::thread thread;

  HostListener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port = ntohs(a.sin_port);
    thread = std::thread([this] {
      for (;;) {
        int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        ++accepted;
        std::string hello = "hello from host " + std::to_string(port) + "\n";
        (void)!::write(c, hello.data(), hello.size());
        char buf[256];
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n > 0) (void)!::write(c, buf, static_cast<size_t>(n));
        ::close(c);
      }
    });
  }
  ~HostListener() {
    ::shutdown(fd, SHUT_RDWR);
    if (thread.joinable()) thread.join();
    ::close(fd);
  }
};

// Python client inside: connects to 127.0.0.1:<port>, sends a line, prints all it reads or the error.
inline std::string client(uint16_t port) {
  return "python3 -c \"import socket\ntry:\n s=socket.create_connection(('127.0.0.1'," + std::to_string(port) +
         "),timeout=5)\n f=s.makefile('rwb')\n print(f.readline().decode().strip())\n f.write(b'echo me\\\\n'); f.flush()\n"
         " print(f.readline().decode().strip())\nexcept OSError as e:\n print('error', e.errno)\"";
}

struct HostSnapshot {
  size_t mounts = count_lines(slurp("/proc/self/mountinfo"));
  std::string passwd = slurp("/etc/passwd");
};

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    report_ = probe();
    if (!report_.process_backend_usable())
      GTEST_SKIP() << "the process sandbox cannot run on this host: " << join(report_.problems);
    char tmpl[] = "/tmp/whalebox-sandbox-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    workspace_ = tmpl;
    // No pre-spawned init here, so that "no sandbox process is left" is exact; the pool has its
    // own tests.
    ProcessBackendOptions opts;
    opts.pool_size = 0;
    runtime_ = std::make_unique<SyncRuntime>(opts);
  }

  void TearDown() override {
    runtime_.reset();
    if (!workspace_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(workspace_, ec);
    }
    if (!report_.process_backend_usable()) return;
    EXPECT_EQ(sandbox_processes(), std::vector<int>{}) << "sandbox processes outlived their sandbox";
    EXPECT_EQ(sandbox_cgroups(), std::vector<std::string>{}) << "sandbox cgroups left behind";
    EXPECT_EQ(count_lines(slurp("/proc/self/mountinfo")), host_.mounts) << "host mount table changed";
    EXPECT_EQ(slurp("/etc/passwd"), host_.passwd);
  }

  SandboxSpec spec() const {
    SandboxSpec s;
    s.workspace = workspace_;
    return s;
  }

  std::unique_ptr<SyncSandbox> create(SandboxSpec s) { return runtime_->create(std::move(s)); }
  std::unique_ptr<SyncSandbox> create() { return create(spec()); }

  static ExecResult sh(SyncSandbox& box, const std::string& cmd, int timeout_ms = 20000) {
    ExecRequest req;
    req.shell = cmd;
    req.timeout = std::chrono::milliseconds(timeout_ms);
    return box.exec(std::move(req));
  }

  // Copies the hostile test program into the workspace as ./escape.
  static void install_escape(SyncSandbox& box) {
    std::string bin = slurp(WHALEBOX_ESCAPE_BIN);
    ASSERT_FALSE(bin.empty()) << WHALEBOX_ESCAPE_BIN;
    ASSERT_TRUE(box.put_file("escape", bin, 0755).ok());
  }

  // The runtime is unaffected: the same sandbox still answers a trivial command.
  static void expect_still_works(SyncSandbox& box) {
    auto r = sh(box, "echo alive");
    EXPECT_TRUE(r.status.ok()) << r.status.error;
    EXPECT_EQ(r.stdout_data, "alive\n");
  }

  ProbeReport report_;
  std::string workspace_;
  std::unique_ptr<SyncRuntime> runtime_;
  HostSnapshot host_;
};

}  // namespace whalebox::sandbox::testing
