// What this host offers the process backend, measured rather than assumed.
#include <cerrno>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "sandbox/cgroup.h"
#include "sandbox/process_backend.h"
#include "sandbox/sysfile.h"

namespace whalebox::sandbox {
namespace {

bool syscall_exists(long rc) { return rc == 0 || errno != ENOSYS; }

// unshare(CLONE_NEWUSER) in a throwaway child: the only reliable test (sysctls differ by distro).
bool user_namespaces_work() {
  pid_t pid = fork();
  if (pid == 0) _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  if (pid < 0) return false;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t at = 0;
  while (at <= dirs.size()) {
    size_t end = dirs.find(':', at);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(at, end - at) + "/" + name;
    if (end > at && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    at = end + 1;
  }
  return "";
}

}  // namespace

ProbeReport probe(const ProcessBackendOptions& opts) {
  ProbeReport r;
  r.root = ::geteuid() == 0;
  std::string init_cgroup = read_small_file("/proc/1/cgroup");
  r.in_container = ::access("/.dockerenv", F_OK) == 0 || ::access("/run/.containerenv", F_OK) == 0 ||
                   init_cgroup.find("docker") != std::string::npos || init_cgroup.find("kubepods") != std::string::npos;
  r.user_namespaces = user_namespaces_work();
  uint32_t action = SECCOMP_RET_ERRNO;
  r.seccomp = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
  action = SECCOMP_RET_USER_NOTIF;
  r.seccomp_user_notif = r.seccomp && syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, 1u /* VERSION */);
  r.landlock_abi = abi > 0 ? static_cast<int>(abi) : 0;
  r.clone3 = syscall_exists(syscall(SYS_clone3, nullptr, 0));
  r.openat2 = syscall_exists(syscall(SYS_openat2, AT_FDCWD, nullptr, nullptr, 0));
  long pidfd = syscall(SYS_pidfd_open, ::getpid(), 0);
  r.pidfd = pidfd >= 0;
  if (pidfd >= 0) ::close(static_cast<int>(pidfd));
  CgroupTree tree = CgroupTree::discover();
  r.cgroup_mode = tree.mode;
  r.cgroup_v1_controllers = tree.v1_mounted;
  r.cgroup_v2_controllers = tree.v2_controllers;
  r.cgroup_kill = tree.v2_kill;
  r.cgroup_writable = tree.problem.empty();
  r.pasta = find_in_path("pasta");
  r.init_binary = find_init_binary(opts);

  if (!r.user_namespaces) r.problems.push_back("user namespaces are unavailable to this process");
  if (!r.seccomp) r.problems.push_back("seccomp filters are unavailable");
  if (!r.clone3) r.problems.push_back("clone3 is unavailable (kernel older than 5.3)");
  if (!r.openat2) r.problems.push_back("openat2 is unavailable (kernel older than 5.6)");
  if (!r.pidfd) r.problems.push_back("pidfds are unavailable (kernel older than 5.3)");
  if (!tree.problem.empty()) r.problems.push_back(tree.problem);
  if (r.init_binary.empty()) r.problems.push_back("the whalebox-sandbox-init helper was not found");
  return r;
}

std::string ProbeReport::to_json() const {
  nlohmann::json j = {
      {"root", root},
      {"in_container", in_container},
      {"user_namespaces", user_namespaces},
      {"seccomp", seccomp},
      {"seccomp_user_notif", seccomp_user_notif},
      {"landlock_abi", landlock_abi},
      {"clone3", clone3},
      {"openat2", openat2},
      {"pidfd", pidfd},
      {"cgroup_mode", cgroup_mode},
      {"cgroup_v1_controllers", cgroup_v1_controllers},
      {"cgroup_v2_controllers", cgroup_v2_controllers},
      {"cgroup_kill", cgroup_kill},
      {"cgroup_writable", cgroup_writable},
      {"pasta", pasta.empty() ? nlohmann::json(nullptr) : nlohmann::json(pasta)},
      {"init_binary", init_binary.empty() ? nlohmann::json(nullptr) : nlohmann::json(init_binary)},
      {"process_backend_usable", process_backend_usable()},
      {"problems", problems},
  };
  return j.dump();
}

}  // namespace whalebox::sandbox
