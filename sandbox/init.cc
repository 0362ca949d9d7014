#include "sandbox/init.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "sandbox/inside.h"
#include "sandbox/protocol.h"

extern char** environ;

namespace whalebox::sandbox {
namespace {

struct Command {
  uint64_t id;
  pid_t pid;
  int64_t deadline_ms;  // monotonic; 0 = none
  bool timed_out;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs the setup steps in order, timing each, until one fails; `error()` is the first failure.
class Steps {
 public:
  explicit Steps(proto::ReadyMsg& out) : out_(out) {}
  template <class F>
  void run(const char* name, F&& f) {
    if (!out_.error.empty()) return;
    int64_t t = now_us();
    out_.error = f();
    out_.steps_us.emplace_back(name, static_cast<uint64_t>(now_us() - t));
  }

 private:
  static int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  proto::ReadyMsg& out_;
};

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Everything that does not depend on the spec: done ahead of time for pooled inits.
void prepare(const proto::PrepareMsg& cfg, inside::MountSources& sources, Steps& steps) {
  using namespace inside;
  steps.run("init.clone_mount_sources", [&] { return clone_mount_sources(cfg.ro_paths, sources); });
  steps.run("init.become", [&] {
    std::string e = become(cfg.uid, cfg.gid);
    // PDEATHSIG is cleared by the uid change, so it is set here; the control socket's EOF covers
    // the window before.
    if (e.empty() && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) e = errno_text("PR_SET_PDEATHSIG");
    return e;
  });
  if (cfg.net_loopback) steps.run("init.loopback_up", [] { return loopback_up(); });
  steps.run("init.build_root", [&] { return build_root(sources, cfg.tmpfs_bytes, cfg.keep_old_root != 0); });
  steps.run("init.limit_capabilities", [] { return limit_capabilities(); });
}

// The spec's part, then every privilege is shed: capabilities, no-new-privs, Landlock, seccomp.
void attach(const proto::PrepareMsg& base, const proto::AttachMsg& cfg, int workspace_tree, int& landlock_abi,
            std::vector<int>& port_fds, Steps& steps) {
  using namespace inside;
  steps.run("init.attach_workspace", [&] { return attach_workspace(cfg, workspace_tree, base.tmpfs_bytes); });
  steps.run("init.hostname_rlimits", [&] {
    if (sethostname(cfg.hostname.data(), cfg.hostname.size()) != 0) return errno_text("sethostname");
    return set_limits(cfg);
  });
  if (!cfg.ports.empty()) steps.run("init.listen_ports", [&] { return listen_ports(cfg.ports, port_fds); });
  steps.run("init.drop_capabilities", [] { return drop_capabilities(); });
  steps.run("init.landlock", [&] { return apply_landlock(cfg.workspace_mount, landlock_abi); });
  steps.run("init.seccomp", [&] { return install_seccomp(base.seccomp_bpf); });
  // Not dumpable: the workload (same uid) cannot open /proc/1/fd, /proc/1/environ or ptrace us.
  steps.run("init.not_dumpable", [] { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? "" : errno_text("PR_SET_DUMPABLE"); });
}

struct ChildArgs {
  const proto::ExecMsg* m;
  const std::vector<int>* fds;
  char** argv;
};

// The command's process, started with CLONE_VM | CLONE_VFORK: it borrows init's memory until it
// execs (no page tables copied, no copy-on-write faults) while init waits, so it only makes
// syscalls on data prepared by init.
int run_child(void* p) {
  const auto& a = *static_cast<ChildArgs*>(p);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  signal(SIGPIPE, SIG_DFL);  // the child has its own copy of the handlers (no CLONE_SIGHAND)
  setsid();  // own session and process group: never shares a terminal, killable as a group
  for (int i = 0; i < 3; ++i) dup2((*a.fds)[static_cast<size_t>(i)], i);
  inside::close_fds_from(3);
  if (chdir(a.m->cwd.c_str()) != 0) {
    dprintf(2, "whalebox-sandbox: cannot enter %s: %s\n", a.m->cwd.c_str(), strerror(errno));
    _exit(126);
  }
  execvp(a.argv[0], a.argv);  // searches the command's PATH: init set environ to its env
  int e = errno;
  dprintf(2, "whalebox-sandbox: %s: %s\n", a.argv[0], strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}

pid_t spawn_command(const proto::ExecMsg& m, const std::vector<int>& fds) {
  alignas(64) static char stack[64 * 1024];  // the child's until it execs; init is stopped meanwhile
  std::vector<char*> argv, envp;
  for (const auto& a : m.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : m.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ChildArgs args{&m, &fds, argv.data()};
  char** saved = environ;
  environ = envp.data();
  pid_t pid = clone(run_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  int e = errno;
  environ = saved;
  errno = e;
  return pid;
}

void start(std::vector<Command>& cmds, const std::string& packet, std::vector<int>& fds) {
  proto::ExecMsg m;
  proto::ExitedMsg reply;
  if (!proto::ExecMsg::decode(packet, m) || fds.size() != 3) {
    reply.started = 0;
    reply.error = "malformed exec request";
  } else {
    pid_t pid = spawn_command(m, fds);
    if (pid < 0) {
      reply.id = m.id;
      reply.started = 0;
      reply.error = errno == EAGAIN ? "cannot fork: the sandbox's process limit is reached"
                                    : std::string("cannot fork: ") + strerror(errno);
    } else {
      cmds.push_back({m.id, pid, m.timeout_ms ? now_ms() + static_cast<int64_t>(m.timeout_ms) : 0, false});
    }
  }
  for (int fd : fds) close(fd);
  if (!reply.started) proto::send_packet(kInitControlFd, reply.encode());
}

// Reaps every exited child, reporting the commands among them; true while children are left.
bool reap(std::vector<Command>& cmds) {
  for (;;) {
    int status = 0;
    rusage ru{};
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0) return pid == 0;
    for (size_t i = 0; i < cmds.size(); ++i) {
      if (cmds[i].pid != pid) continue;
      proto::ExitedMsg m;
      m.id = cmds[i].id;
      m.wait_status = static_cast<uint32_t>(status);
      m.timed_out = cmds[i].timed_out;
      m.cpu_us = static_cast<uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                 static_cast<uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
      m.maxrss_kb = static_cast<uint64_t>(ru.ru_maxrss);
      proto::send_packet(kInitControlFd, m.encode());
      cmds.erase(cmds.begin() + static_cast<long>(i));
      break;
    }
    // Anything else was an orphan re-parented to us: reaped, nothing to report.
  }
}

void handle(std::vector<Command>& cmds, const std::string& packet, std::vector<int>& fds) {
  proto::Reader r(packet);
  switch (r.type()) {
    case proto::Type::exec:
      start(cmds, packet, fds);
      return;
    case proto::Type::signal: {
      uint64_t id = r.u64();
      int sig = static_cast<int>(r.u32());
      // The group, or the command alone if it has not reached its setsid() yet.
      for (const auto& c : cmds)
        if (c.id == id && r.ok() && kill(-c.pid, sig) != 0) kill(c.pid, sig);
      break;
    }
    case proto::Type::kill_all:
      kill(-1, SIGKILL);  // everything in our pid namespace but ourselves
      // Their deaths are asynchronous: wait for them, so that the next command never meets a
      // process still exiting. Bounded, so a process stuck in an uninterruptible sleep cannot
      // stall init.
      for (int64_t give_up = now_ms() + 2000; reap(cmds) && now_ms() < give_up;) usleep(1000);
      break;
    default:
      break;
  }
  for (int fd : fds) close(fd);
}

int serve() {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 1;
  std::vector<Command> cmds;
  std::string packet;
  for (;;) {
    int timeout = -1;
    int64_t now = now_ms();
    for (auto& c : cmds) {
      if (!c.deadline_ms || c.timed_out) continue;
      if (c.deadline_ms <= now) {
        c.timed_out = true;
        kill(-c.pid, SIGKILL);
        kill(c.pid, SIGKILL);
        continue;
      }
      int left = static_cast<int>(c.deadline_ms - now);
      if (timeout < 0 || left < timeout) timeout = left;
    }
    pollfd p[2] = {{kInitControlFd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(p, 2, timeout) < 0 && errno != EINTR) return 1;
    if (p[1].revents & POLLIN) {
      signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
      reap(cmds);
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      std::vector<int> fds;
      long n = proto::recv_packet(kInitControlFd, packet, fds);
      if (n <= 0) return 0;  // the runtime is gone: exiting takes every process here with us
      handle(cmds, packet, fds);
    }
  }
}

}  // namespace

int init_main() {
  inside::close_fds_from(kInitControlFd + 1);
  signal(SIGPIPE, SIG_IGN);
  std::string packet;
  std::vector<int> fds;
  proto::ReadyMsg ready;
  Steps steps(ready);
  auto answer = [&](const std::vector<int>& pass) {
    proto::send_packet(kInitControlFd, ready.encode(), pass.data(), ready.error.empty() ? pass.size() : 0);
    for (int fd : pass) close(fd);  // the runtime holds the port listeners now, not the sandbox
    return ready.error.empty() ? serve() : 1;
  };
  if (proto::recv_packet(kInitControlFd, packet, fds, 0) <= 0) return 1;
  proto::PrepareMsg base;
  if (!proto::PrepareMsg::decode(packet, base)) ready.error = "malformed setup message";
  inside::MountSources sources;
  prepare(base, sources, steps);
  ready.prepare_steps = static_cast<uint32_t>(ready.steps_us.size());
  if (!ready.error.empty()) return answer({});
  // Pooled inits wait here, fully built but for the spec.
  if (proto::recv_packet(kInitControlFd, packet, fds, 1) <= 0) return 1;
  proto::AttachMsg cfg;
  if (!proto::AttachMsg::decode(packet, cfg)) ready.error = "malformed attach message";
  int abi = 0;
  std::vector<int> port_fds;
  attach(base, cfg, fds.empty() ? -1 : fds[0], abi, port_fds, steps);
  ready.landlock_abi = static_cast<uint32_t>(abi);
  return answer(port_fds);
}

}  // namespace whalebox::sandbox
