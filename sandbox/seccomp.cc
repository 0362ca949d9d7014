// The process tier's seccomp deny list (spec §4), built with libseccomp once per runtime and
// exported as a BPF program that each sandbox's init loads. Default allow; the escape and
// kernel-attack-surface syscalls fail with EPERM; never-legitimate ones kill.
#include <cerrno>
#include <cstring>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include "sandbox/process_backend.h"

namespace whalebox::sandbox {
namespace {

const char* const kDenied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "unshare", "setns", "chroot",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "syslog",
    "open_by_handle_at", "name_to_handle_at", "uselib", "iopl", "ioperm", "vhangup",
    "fanotify_init", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
};
const char* const kKilled[] = {"reboot", "kexec_load", "kexec_file_load", "init_module",
                               "finit_module", "delete_module"};
const unsigned long kNamespaceFlags[] = {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                         CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */};
const int kDeniedFamilies[] = {AF_PACKET, AF_VSOCK, AF_KEY, AF_ALG /* kernel crypto surface */};

std::string build_filter(std::string& bpf) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return "seccomp_init failed";
  std::string error;
  auto add = [&](uint32_t action, const char* name, unsigned count, const scmp_arg_cmp* args) {
    if (!error.empty()) return;
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return;  // not on this architecture
    int rc = seccomp_rule_add_array(ctx, action, nr, count, args);
    if (rc != 0) error = std::string("seccomp rule for ") + name + ": " + std::strerror(-rc);
  };
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDenied) add(eperm, name, 0, nullptr);
  for (const char* name : kKilled) add(SCMP_ACT_KILL_PROCESS, name, 0, nullptr);
  // clone3 passes its flags in memory that seccomp cannot read: ENOSYS makes libc fall back to clone.
  add(SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, nullptr);
  for (unsigned long flag : kNamespaceFlags) {
    scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag);
    add(eperm, "clone", 1, &c);
  }
  // TIOCSTI / TIOCLINUX inject input into a terminal; the kernel compares only the low 32 bits
  // of the request, so must we.
  for (unsigned long req : {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)}) {
    scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFul, req);
    add(eperm, "ioctl", 1, &c);
  }
  for (int family : kDeniedFamilies) {
    scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family));
    add(SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &c);
  }
  {  // netlink: only NETLINK_ROUTE (ip addr and friends)
    scmp_arg_cmp c[] = {SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_NE, 0 /* NETLINK_ROUTE */)};
    add(SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 2, c);
  }
  // personality: flags that weaken ASLR or memory protections. libseccomp allows one comparison
  // per argument, so each rule also requires the top nibble clear: that spares the 0xffffffff query.
  for (unsigned long flag : {ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT,
                             ADDR_LIMIT_3GB, ADDR_LIMIT_32BIT}) {
    scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, 0xF0000000ul | flag, flag);
    add(eperm, "personality", 1, &c);
  }
  int fd = error.empty() ? memfd_create("seccomp-bpf", MFD_CLOEXEC) : -1;
  if (error.empty() && fd < 0) error = std::string("memfd_create: ") + std::strerror(errno);
  if (fd >= 0) {
    if (int rc = seccomp_export_bpf(ctx, fd); rc != 0) error = std::string("seccomp_export_bpf: ") + std::strerror(-rc);
    off_t size = lseek(fd, 0, SEEK_END);
    bpf.resize(size > 0 ? static_cast<size_t>(size) : 0);
    if (error.empty() && pread(fd, bpf.data(), bpf.size(), 0) != static_cast<ssize_t>(bpf.size()))
      error = "cannot read the exported seccomp program";
    ::close(fd);
  }
  seccomp_release(ctx);
  return error;
}

}  // namespace

Status seccomp_program(const std::string*& bpf) {
  static std::once_flag once;
  static std::string program, error;
  std::call_once(once, [] { error = build_filter(program); });
  bpf = &program;
  return error.empty() ? Status{} : Status::fail("cannot build the seccomp filter: " + error);
}

}  // namespace whalebox::sandbox
