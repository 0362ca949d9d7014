// The sandbox's mount tree: a small read-only tmpfs root holding read-only binds of the system
// dirs, the writable workspace, sized tmpfs /tmp and /dev/shm, host device nodes bound in (mknod
// fails in a user namespace), and a fresh /proc with the dangerous files masked.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

#include "sandbox/inside.h"

namespace whalebox::sandbox::inside {
namespace {

const char* const kRoot = "/tmp";  // staging point; in our private mount ns it hides nothing of the host's
const char* const kOldRoot = "/.old";  // the host root after pivot_root, until the workspace is attached
const char* const kDevNodes[] = {"null", "zero", "full", "random", "urandom"};
const char* const kProcMasked[] = {"kcore",      "kallsyms",   "keys",       "key-users",   "timer_list",
                                   "sched_debug", "sysrq-trigger", "latency_stats", "kpagecount",
                                   "kpageflags",  "kpagecgroup", "kmsg", "config.gz", "slabinfo", "vmallocinfo"};
const char* const kProcReadOnly[] = {"sys", "irq", "bus", "fs", "acpi", "scsi", "driver", "tty"};

std::string fail(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool mkdirs(const std::string& path) {
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at != path.size() && path[at] != '/') continue;
    std::string prefix = path.substr(0, at);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

bool make_file(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return true;  // e.g. a /proc file being masked
  if (!mkdirs(path.substr(0, path.rfind('/')))) return false;
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return errno == EEXIST;
  ::close(fd);
  return true;
}

// A detached recursive copy of the mount tree at `src`, with `attrs` set on all of it.
int clone_tree(const std::string& src, uint64_t attrs) {
  int fd = open_tree(AT_FDCWD, src.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd < 0) return -1;
  mount_attr attr{};
  attr.attr_set = attrs;
  if (attrs && mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

std::string attach(int tree, const std::string& target, bool is_file) {
  bool made = is_file ? make_file(target) : mkdirs(target);
  if (!made) return fail("cannot create mount point", target);
  int rc = move_mount(tree, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH);
  ::close(tree);
  return rc == 0 ? "" : fail("cannot mount on", target);
}

std::string mount_tmpfs(const std::string& target, const std::string& options) {
  if (!mkdirs(target)) return fail("cannot create", target);
  if (::mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
    return fail("cannot mount tmpfs on", target);
  return "";
}

std::string mount_proc(const std::string& root) {
  std::string proc = root + "/proc";
  if (!mkdirs(proc)) return fail("cannot create", proc);
  if (::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    return fail("cannot mount a fresh proc on", proc);
  struct stat st;
  for (const char* name : kProcMasked) {
    std::string path = proc + "/" + name;
    if (::stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    int tree = clone_tree(root + "/dev/null", 0);
    if (tree < 0) return fail("cannot clone", root + "/dev/null");
    if (auto e = attach(tree, path, true); !e.empty()) return e;
  }
  for (const char* name : kProcReadOnly) {
    std::string path = proc + "/" + name;
    if (::stat(path.c_str(), &st) != 0) continue;
    int tree = clone_tree(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (tree < 0) return fail("cannot clone", path);
    if (auto e = attach(tree, path, false); !e.empty()) return e;
  }
  return "";
}

std::string detach_old_root() {
  if (::umount2(kOldRoot, MNT_DETACH) != 0) return fail("cannot detach the old root", kOldRoot);
  if (::rmdir(kOldRoot) != 0) return fail("cannot remove", kOldRoot);
  return "";
}

}  // namespace

std::string clone_mount_sources(const std::vector<std::string>& ro_paths, MountSources& src) {
  // On systemd hosts "/" is shared: without this our mounts would propagate to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return fail("cannot make private", "/");
  // Clone every source while the host tree is whole (the staging tmpfs will hide /tmp).
  const uint64_t ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  for (const auto& p : ro_paths) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;  // absent on this host: skipped, not an error
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(p.c_str(), target, sizeof target - 1);
      if (n > 0) src.links.emplace_back(p, std::string(target, static_cast<size_t>(n)));
      continue;
    }
    int fd = clone_tree(p, ro);
    if (fd < 0) return fail("cannot bind read-only", p);
    src.trees.push_back({p, fd, !S_ISDIR(st.st_mode)});
  }
  for (const char* n : kDevNodes) {
    int fd = clone_tree(std::string("/dev/") + n, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    if (fd >= 0) src.devs.push_back({std::string("/dev/") + n, fd, true});
  }
  return "";
}

std::string build_root(MountSources& src, uint64_t tmpfs_bytes, bool keep_old_root) {
  auto& trees = src.trees;
  auto& devs = src.devs;
  auto& links = src.links;
  const std::string root = kRoot;
  if (::mount("tmpfs", kRoot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0)
    return fail("cannot mount the root tmpfs on", root);
  std::string e;
  for (auto& t : trees) {
    if (e.empty()) e = attach(t.fd, root + t.target, t.is_file);
    else ::close(t.fd);
  }
  std::string tmpfs = "mode=1777,size=" + std::to_string(tmpfs_bytes);
  if (e.empty()) e = mount_tmpfs(root + "/tmp", tmpfs);
  if (e.empty()) e = mount_tmpfs(root + "/dev", "mode=0755,size=64k");
  if (e.empty()) e = mount_tmpfs(root + "/dev/shm", tmpfs);
  for (auto& d : devs) {
    if (e.empty()) e = attach(d.fd, root + d.target, true);
    else ::close(d.fd);
  }
  if (!e.empty()) return e;
  links.emplace_back("/dev/fd", "/proc/self/fd");
  links.emplace_back("/dev/stdin", "/proc/self/fd/0");
  links.emplace_back("/dev/stdout", "/proc/self/fd/1");
  links.emplace_back("/dev/stderr", "/proc/self/fd/2");
  for (const auto& [path, target] : links) {
    std::string at = root + path;
    if (!mkdirs(at.substr(0, at.rfind('/'))) || (::symlink(target.c_str(), at.c_str()) != 0 && errno != EEXIST))
      return fail("cannot create symlink", path);
  }
  if (auto pe = mount_proc(root); !pe.empty()) return pe;
  if (!mkdirs(root + kOldRoot)) return fail("cannot create", root + kOldRoot);
  if (::chdir(kRoot) != 0) return fail("cannot enter", root);
  if (syscall(SYS_pivot_root, ".", kOldRoot + 1) != 0) return fail("pivot_root into", root);
  if (::chdir("/") != 0) return fail("cannot enter", "/");
  return keep_old_root ? "" : detach_old_root();
}

std::string attach_workspace(const proto::AttachMsg& cfg, int workspace_tree, uint64_t prepared_tmpfs_bytes) {
  int tree = workspace_tree;
  struct stat st;
  bool have_old_root = ::lstat(kOldRoot, &st) == 0;
  if (tree < 0 && !have_old_root) return "the runtime sent no workspace mount and the host root is already detached";
  if (tree < 0) {
    // The runtime could not clone it: resolve the host path in the old root, as the sandbox's identity.
    tree = clone_tree(std::string(kOldRoot) + cfg.workspace, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (tree < 0) return fail("cannot bind the workspace", cfg.workspace);
  }
  std::string e = attach(tree, cfg.workspace_mount, false);
  if (!e.empty()) return e;
  if (cfg.tmpfs_bytes != prepared_tmpfs_bytes) {
    std::string size = "size=" + std::to_string(cfg.tmpfs_bytes);
    for (const char* dir : {"/tmp", "/dev/shm"})
      if (::mount(nullptr, dir, nullptr, MS_REMOUNT | MS_NOSUID | MS_NODEV, size.c_str()) != 0)
        return fail("cannot resize the tmpfs", dir);
  }
  if (have_old_root && !(e = detach_old_root()).empty()) return e;
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) != 0) return fail("cannot make read-only", "/");
  return "";
}

}  // namespace whalebox::sandbox::inside
