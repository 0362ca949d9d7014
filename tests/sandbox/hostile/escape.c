// Hostile workload: each subcommand attempts one escape or abuse from inside a sandbox.
// Exit status: 0 = the attempt was contained (blocked), 1 = it SUCCEEDED (an escape), 2 = usage.
// Prints one line saying what happened, for the test log.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>

static int blocked(const char* what, long rc) {
  if (rc < 0) {
    printf("%s: blocked (%s)\n", what, strerror(errno));
    return 0;
  }
  printf("%s: SUCCEEDED (rc=%ld)\n", what, rc);
  return 1;
}

static int try_ptrace(void) {
  int bad = blocked("ptrace attach pid 1", ptrace(PTRACE_ATTACH, 1, 0, 0));
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  bad |= blocked("ptrace attach own child", ptrace(PTRACE_ATTACH, child, 0, 0));
  bad |= blocked("ptrace seize own child", ptrace(PTRACE_SEIZE, child, 0, 0));
  char buf[16];
  struct iovec local = {buf, sizeof buf}, remote = {(void*)0x400000, sizeof buf};
  bad |= blocked("process_vm_readv pid 1", syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0));
  bad |= blocked("process_vm_writev child", syscall(SYS_process_vm_writev, child, &local, 1, &remote, 1, 0));
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return bad;
}

static int try_mount(void) {
  int bad = blocked("mount tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
  bad |= blocked("bind mount /", mount("/", "/tmp", NULL, MS_BIND | MS_REC, NULL));
  bad |= blocked("remount / rw", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
  bad |= blocked("umount /proc", umount2("/proc", MNT_DETACH));
  bad |= blocked("fsopen tmpfs", syscall(SYS_fsopen, "tmpfs", 0));
  bad |= blocked("open_tree /", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
  bad |= blocked("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/proc", AT_FDCWD, "/tmp", 0));
  bad |= blocked("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, NULL, 0));
  bad |= blocked("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  return bad;
}

static int try_namespaces(void) {
  int bad = 0;
  int flags[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP};
  for (size_t i = 0; i < sizeof flags / sizeof *flags; ++i) {
    char what[64];
    snprintf(what, sizeof what, "unshare(0x%x)", flags[i]);
    bad |= blocked(what, unshare(flags[i]));
    snprintf(what, sizeof what, "clone(0x%x)", flags[i]);
    long pid = syscall(SYS_clone, flags[i] | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    bad |= blocked(what, pid);
  }
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(0);
  bad |= blocked("clone3(CLONE_NEWUSER)", pid);
  if (errno != ENOSYS) printf("clone3 errno was not ENOSYS\n"), bad = 1;
  int fd = open("/proc/1/ns/mnt", O_RDONLY);
  bad |= blocked("setns(/proc/1/ns/mnt)", fd < 0 ? -1 : setns(fd, 0));
  fd = open("/proc/self/ns/user", O_RDONLY);
  bad |= blocked("setns(own user ns)", fd < 0 ? -1 : setns(fd, CLONE_NEWUSER));
  return bad;
}

static int try_tty(void) {
  char c = 'x';
  int bad = blocked("TIOCSTI", ioctl(0, TIOCSTI, &c));
  // The kernel compares only the low 32 bits of the request: the high-bit variant must be caught too.
  bad |= blocked("TIOCSTI high bits", syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1ul << 32), &c));
  char sub = 6;
  bad |= blocked("TIOCLINUX", ioctl(0, TIOCLINUX, &sub));
  bad |= blocked("TIOCLINUX high bits", syscall(SYS_ioctl, 0, (unsigned long)TIOCLINUX | (0xfffful << 32), &sub));
  int tty = open("/dev/tty", O_RDWR);
  bad |= blocked("open /dev/tty", tty);
  // Only EPERM proves seccomp stopped it (ENOTTY would mean we merely lacked a terminal).
  errno = 0;
  syscall(SYS_ioctl, 1, (unsigned long)TIOCSTI, &c);
  if (errno != EPERM) printf("TIOCSTI errno %s, expected EPERM\n", strerror(errno)), bad = 1;
  return bad;
}

static int try_kernel_surfaces(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int bad = blocked("io_uring_setup", syscall(SYS_io_uring_setup, 8, &p));
  bad |= blocked("bpf", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, NULL, 0));
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  bad |= blocked("perf_event_open", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  bad |= blocked("userfaultfd", syscall(SYS_userfaultfd, 0));
  bad |= blocked("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
  bad |= blocked("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3));
  bad |= blocked("request_key", syscall(SYS_request_key, "user", "k", NULL, -3));
  bad |= blocked("personality(ADDR_NO_RANDOMIZE)", syscall(SYS_personality, 0x0040000));
  bad |= blocked("kcmp", syscall(SYS_kcmp, getpid(), 1, 0, 0, 0));
  return bad;
}

static int try_sockets(void) {
  int bad = blocked("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW, 0));
  bad |= blocked("socket(AF_VSOCK)", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
  bad |= blocked("socket(AF_NETLINK, AUDIT)", socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT));
  bad |= blocked("socket(AF_NETLINK, KOBJECT_UEVENT)", socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT));
  bad |= blocked("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  // The one netlink family we allow must still work (ip addr).
  int rt = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  if (rt < 0) printf("NETLINK_ROUTE unexpectedly blocked: %s\n", strerror(errno)), bad = 1;
  return bad;
}

static int try_read(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return blocked(path, -1);
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) {
    printf("%s: opened but reads %s\n", path, n == 0 ? "nothing (masked)" : strerror(errno));
    return 0;
  }
  printf("%s: SUCCEEDED reading %zd bytes\n", path, n);
  return 1;
}

static int try_secrets(void) {
  int bad = try_read("/etc/shadow");
  bad |= try_read("/etc/gshadow");
  bad |= try_read("/root/.bashrc");
  bad |= blocked("opendir /root", opendir("/root") ? 0 : -1);
  bad |= try_read("/proc/kcore");
  bad |= try_read("/proc/1/environ");
  bad |= try_read("/proc/kallsyms");
  bad |= try_read("/proc/keys");
  bad |= try_read("/sys/firmware/dmi/tables/DMI");
  // Listing init's fd table may be allowed; opening any of them must not be.
  DIR* fds = opendir("/proc/1/fd");
  struct dirent* e;
  while (fds && (e = readdir(fds))) {
    if (e->d_name[0] == '.') continue;
    char path[sizeof "/proc/1/fd/" + sizeof e->d_name];
    snprintf(path, sizeof path, "/proc/1/fd/%s", e->d_name);
    bad |= blocked(path, open(path, O_RDWR));
  }
  if (fds) closedir(fds);
  bad |= blocked("open /proc/1/fd/3 (init control socket)", open("/proc/1/fd/3", O_RDWR));
  bad |= blocked("readlink /proc/1/exe", readlink("/proc/1/exe", (char[64]){0}, 63));
  return bad;
}

static int try_write(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
  if (fd >= 0 && write(fd, "pwned\n", 6) == 6) {
    printf("%s: SUCCEEDED writing\n", path);
    return 1;
  }
  return blocked(path, -1);
}

static int try_system_writes(void) {
  int bad = try_write("/bin/sh");
  bad |= try_write("/usr/bin/whalebox-pwned");
  bad |= try_write("/etc/passwd");
  bad |= try_write("/etc/profile");
  bad |= try_write("/pwned");
  bad |= try_write("/proc/sys/kernel/core_pattern");
  bad |= try_write("/proc/sysrq-trigger");
  bad |= blocked("mkdir /opt/x", mkdir("/opt/x", 0755));
  bad |= blocked("chmod /usr/bin/env", chmod("/usr/bin/env", 04777));
  bad |= blocked("mknod /workspace/null", mknod("/workspace/null", S_IFCHR | 0666, makedev(1, 3)));
  return bad;
}

static int try_connect(const char* ip, int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  char what[64];
  snprintf(what, sizeof what, "connect %s:%d", ip, port);
  return blocked(what, connect(s, (struct sockaddr*)&a, sizeof a));
}

// Every fd other than 0-2 (and the one opendir uses) is a leak from the runtime.
static int try_fds(void) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return blocked("opendir /proc/self/fd", -1);
  int bad = 0;
  struct dirent* e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d)) continue;
    char target[256] = {0};
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    readlink(link, target, sizeof target - 1);
    printf("leaked fd %d -> %s\n", fd, target);
    bad = 1;
  }
  if (!bad) printf("no leaked fds\n");
  return bad;
}

static int memory_bomb(void) {
  size_t total = 0;
  for (;;) {
    char* p = malloc(1 << 20);
    if (!p) break;
    memset(p, 1, 1 << 20);
    total += 1 << 20;
  }
  printf("allocated %zu MiB before malloc failed\n", total >> 20);
  return 0;
}

static int fork_bomb(void) {
  int made = 0;
  for (int i = 0; i < 100000; ++i) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) break;
    ++made;
  }
  printf("forked %d before the limit\n", made);
  fflush(stdout);
  pause();  // hold them until the timeout
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return 2;
  const char* c = argv[1];
  if (!strcmp(c, "ptrace")) return try_ptrace();
  if (!strcmp(c, "mount")) return try_mount();
  if (!strcmp(c, "namespaces")) return try_namespaces();
  if (!strcmp(c, "tty")) return try_tty();
  if (!strcmp(c, "kernel")) return try_kernel_surfaces();
  if (!strcmp(c, "sockets")) return try_sockets();
  if (!strcmp(c, "secrets")) return try_secrets();
  if (!strcmp(c, "system-writes")) return try_system_writes();
  if (!strcmp(c, "connect") && argc == 4) return try_connect(argv[2], atoi(argv[3]));
  if (!strcmp(c, "fds")) return try_fds();
  if (!strcmp(c, "memory-bomb")) return memory_bomb();
  if (!strcmp(c, "fork-bomb")) return fork_bomb();
  return 2;
}
