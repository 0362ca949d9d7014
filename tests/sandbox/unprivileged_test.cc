// The unprivileged variant: a runtime running as a normal user (nobody) inside a cgroup delegated
// to it, as systemd would delegate one, runs a sandbox with the same confinement.
#include <grp.h>
#include <sys/wait.h>

#include "sandbox/cgroup.h"
#include "sandbox/sysfile.h"
#include "tests/sandbox/fixture.h"

namespace whalebox::sandbox::testing {
namespace {

constexpr uid_t kUser = 65534;

bool user_can_unshare() {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(kUser) != 0 || ::setuid(kUser) != 0) _exit(2);
    _exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Delegates `dir` to kUser: the directory and the files a cgroup owner may write.
bool delegate(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return false;
  bool ok = ::chown(dir.c_str(), kUser, kUser) == 0;
  for (const char* f : {"cgroup.procs", "cgroup.subtree_control", "cgroup.threads", "tasks"})
    ::chown((dir + "/" + f).c_str(), kUser, kUser);
  return ok;
}

TEST_F(SandboxTest, UnprivilegedRuntimeInADelegatedCgroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "already unprivileged: the rest of the suite is the unprivileged variant";
  if (!user_can_unshare()) GTEST_SKIP() << "uid " << kUser << " cannot create user namespaces on this host";
  CgroupTree tree = CgroupTree::discover();
  std::vector<std::string> delegated;
  std::string name = "/unpriv-test-" + std::to_string(::getpid());
  for (const auto& d : tree.dirs) {
    std::string own = d.base.substr(0, d.base.rfind('/'));
    ASSERT_TRUE(delegate(own + name)) << own + name << ": " << std::strerror(errno);
    delegated.push_back(own + name);
  }
  ASSERT_EQ(::chown(workspace_.c_str(), kUser, kUser), 0);
  HostListener host;  // forwarded without /dev/net/tun, which an unprivileged runtime cannot open
  ASSERT_NE(host.port, 0);
  std::string command = "id -u; cat /proc/self/status | grep -E '^(CapEff|Seccomp):'; cat /etc/shadow; "
                        "touch /workspace/f && echo wrote; " + client(host.port);
  std::string port = std::to_string(host.port);

  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  pid_t child = ::fork();
  if (child == 0) {
    for (const auto& d : delegated) write_small_file(d + "/cgroup.procs", "0");  // join (as root)
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    if (::setgroups(0, nullptr) != 0 || ::setgid(kUser) != 0 || ::setuid(kUser) != 0) _exit(3);
    ::execl(WHALEBOX_RUNTIME_CHILD_BIN, "runtime_child", workspace_.c_str(), command.c_str(), port.c_str(), nullptr);
    _exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  for (auto it = delegated.rbegin(); it != delegated.rend(); ++it) {
    ::rmdir((*it + "/whalebox").c_str());
    ::rmdir(it->c_str());
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  EXPECT_NE(text.find("0\nCapEff:\t0000000000000000\nSeccomp:\t2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("wrote"), std::string::npos) << text;
  EXPECT_NE(text.find("hello from host " + port + "\necho me\n"), std::string::npos) << text;
  EXPECT_EQ(host.accepted, 1);
  EXPECT_EQ(text.find("root:"), std::string::npos) << "shadow readable: " << text;
  struct stat st;
  ASSERT_EQ(::stat((workspace_ + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUser) << "in-sandbox root is the unprivileged user outside";
}

}  // namespace
}  // namespace whalebox::sandbox::testing
