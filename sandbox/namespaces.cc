#include "sandbox/namespaces.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sysfile.h"

namespace whalebox::sandbox {
namespace {

int last_cap() {
  int n = std::atoi(read_small_file("/proc/sys/kernel/cap_last_cap").c_str());
  return n > 0 ? n : 40;
}

// The child between clone3 and exec: it shares nothing with the runtime's threads, so it may not
// allocate (another thread may have held the malloc lock); only raw syscalls on prepared data.
[[noreturn]] void child(int release, int control, int null_fd, int cap_last, const char* path,
                        char* const* argv, char* const* envp) {
  char byte;
  if (read(release, &byte, 1) != 1) _exit(111);  // the runtime gave up on us
  // Capabilities survive exec only as ambient ones: the runtime's uid is not mapped in here.
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) _exit(112);
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (syscall(SYS_capset, &hdr, data) != 0) _exit(113);
  for (int cap = 0; cap <= cap_last; ++cap) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (dup2(control, 3) != 3) _exit(114);
  for (int fd = 0; fd < 3; ++fd) dup2(null_fd, fd);
  execve(path, argv, envp);
  _exit(115);
}

Status write_id_maps(int pid, const SpawnRequest& req) {
  std::string proc = "/proc/" + std::to_string(pid);
  // "deny" is required before an unprivileged gid_map, and keeps setgroups(2) out of the sandbox.
  if (int e = write_small_file(proc + "/setgroups", "deny"); e && e != ENOENT)
    return Status::fail(std::string("cannot write setgroups: ") + std::strerror(e));
  std::string uid_map = std::to_string(req.uid) + " " + std::to_string(req.host_uid) + " 1\n";
  std::string gid_map = std::to_string(req.gid) + " " + std::to_string(req.host_gid) + " 1\n";
  if (int e = write_small_file(proc + "/uid_map", uid_map); e)
    return Status::fail("cannot write uid_map (" + uid_map.substr(0, uid_map.size() - 1) + "): " + std::strerror(e));
  if (int e = write_small_file(proc + "/gid_map", gid_map); e)
    return Status::fail("cannot write gid_map (" + gid_map.substr(0, gid_map.size() - 1) + "): " + std::strerror(e));
  return {};
}

}  // namespace

Status spawn_init(const SpawnRequest& req, const std::function<Status(int pid)>& attach, Spawned& out) {
  int release[2];
  if (pipe2(release, O_CLOEXEC) != 0) return Status::fail(std::string("pipe2: ") + std::strerror(errno));
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  // Keep the fds the child dups from clashing with 0..3.
  int control = fcntl(req.control_fd, F_DUPFD_CLOEXEC, 10);
  int null_hi = fcntl(null_fd, F_DUPFD_CLOEXEC, 10);
  int cap_last = last_cap();
  const char* path = req.init_binary.c_str();
  char arg0[] = "whalebox-sandbox-init";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};

  clone_args args{};
  args.flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
               CLONE_NEWCGROUP | CLONE_PIDFD | (req.new_net ? CLONE_NEWNET : 0) |
               (req.cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  int pidfd = -1;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.cgroup = req.cgroup_fd >= 0 ? static_cast<uint64_t>(req.cgroup_fd) : 0;
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  auto t0 = Clock::now();
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) child(release[0], control, null_hi, cap_last, path, argv, envp);
  int clone_errno = errno;
  auto t1 = Clock::now();
  for (int fd : {release[0], null_fd, control, null_hi}) close(fd);
  if (pid < 0) {
    close(release[1]);
    return Status::fail(std::string("clone3 with new namespaces: ") + std::strerror(clone_errno));
  }
  Status s = write_id_maps(static_cast<int>(pid), req);
  auto t2 = Clock::now();
  if (s.ok() && attach) s = attach(static_cast<int>(pid));
  out.clone_ms = ms(t0, t1);
  out.id_maps_ms = ms(t1, t2);
  out.attach_ms = ms(t2, Clock::now());
  if (s.ok() && write(release[1], "x", 1) != 1) s = Status::fail("cannot release the sandbox init");
  close(release[1]);
  if (!s.ok()) {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    siginfo_t si;
    waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED);
    close(pidfd);
    return s;
  }
  out.pid = static_cast<int>(pid);
  out.pidfd = pidfd;
  return {};
}

}  // namespace whalebox::sandbox
