#include "sandbox/workspace_files.h"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace whalebox::sandbox {
namespace {

Status errno_status(const std::string& what, const std::string& path, int err) {
  if (err == EXDEV || err == ELOOP) return Status::fail(what + " " + path + ": the path leads out of the workspace");
  return Status::fail(what + " " + path + ": " + std::strerror(err));
}

std::string parent_of(const std::string& p) {
  auto at = p.rfind('/');
  return at == std::string::npos ? "" : p.substr(0, at);
}

std::string leaf_of(const std::string& p) {
  auto at = p.rfind('/');
  return at == std::string::npos ? p : p.substr(at + 1);
}

}  // namespace

Status relative_path(const std::string& in, std::string& out) {
  if (in.find('\0') != std::string::npos) return Status::fail("path contains a NUL byte");
  out.clear();
  size_t at = 0;
  while (at <= in.size()) {
    size_t end = in.find('/', at);
    if (end == std::string::npos) end = in.size();
    std::string part = in.substr(at, end - at);
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + part;
    at = end + 1;
  }
  return {};
}

WorkspaceFiles::~WorkspaceFiles() {
  if (root_ >= 0) ::close(root_);
}

Status WorkspaceFiles::open(const std::filesystem::path& dir, bool chown, uint32_t uid, uint32_t gid) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::fail("cannot create workspace " + dir.string() + ": " + ec.message());
  root_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root_ < 0) return errno_status("cannot open workspace", dir.string(), errno);
  chown_ = chown;
  uid_ = uid;
  gid_ = gid;
  if (chown_ && ::fchown(root_, uid_, gid_) != 0) return errno_status("cannot chown workspace", dir.string(), errno);
  return {};
}

int WorkspaceFiles::resolve(const std::string& path, int flags, unsigned mode) const {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const char* p = path.empty() ? "." : path.c_str();
  long fd;
  do fd = syscall(SYS_openat2, root_, p, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

Status WorkspaceFiles::mkdirs(const std::string& in) {
  std::string rel;
  if (auto s = relative_path(in, rel); !s.ok()) return s;
  std::string prefix;
  size_t at = 0;
  while (at < rel.size()) {
    size_t end = rel.find('/', at);
    if (end == std::string::npos) end = rel.size();
    std::string name = rel.substr(at, end - at);
    int parent = resolve(prefix, O_PATH | O_DIRECTORY);
    if (parent < 0) return errno_status("cannot open directory", prefix, -parent);
    if (name == "..") {
      ::close(parent);
    } else {
      int rc = ::mkdirat(parent, name.c_str(), 0755);
      int err = errno;
      if (rc == 0 && chown_) ::fchownat(parent, name.c_str(), uid_, gid_, AT_SYMLINK_NOFOLLOW);
      ::close(parent);
      if (rc != 0 && err != EEXIST) return errno_status("cannot create directory", rel.substr(0, end), err);
    }
    prefix = rel.substr(0, end);
    at = end + 1;
  }
  int fd = resolve(rel, O_PATH | O_DIRECTORY);
  if (fd < 0) return errno_status("cannot open directory", rel, -fd);
  ::close(fd);
  return {};
}

Status WorkspaceFiles::put(const std::string& in, const std::string& data, uint32_t mode) {
  std::string rel;
  if (auto s = relative_path(in, rel); !s.ok()) return s;
  if (rel.empty()) return Status::fail("put_file needs a file name, not the workspace itself");
  if (auto s = mkdirs(parent_of(rel)); !s.ok()) return s;
  int fd = resolve(rel, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY, mode & 07777);
  if (fd < 0) return errno_status("cannot write", rel, -fd);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::fail("cannot write " + rel + ": not a regular file");
  }
  Status s;
  if (::ftruncate(fd, 0) != 0) s = errno_status("cannot truncate", rel, errno);
  for (size_t done = 0; s.ok() && done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = errno_status("cannot write", rel, errno);
    else done += static_cast<size_t>(n);
  }
  if (s.ok()) ::fchmod(fd, mode & 07777);
  if (s.ok() && chown_ && ::fchown(fd, uid_, gid_) != 0) s = errno_status("cannot chown", rel, errno);
  ::close(fd);
  return s;
}

Status WorkspaceFiles::get(const std::string& in, uint64_t max_bytes, std::string& out) {
  std::string rel;
  if (auto s = relative_path(in, rel); !s.ok()) return s;
  int fd = resolve(rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return errno_status("cannot read", rel, -fd);
  struct stat st;
  Status s;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) s = Status::fail("cannot read " + rel + ": not a regular file");
  else if (static_cast<uint64_t>(st.st_size) > max_bytes)
    s = Status::fail("cannot read " + rel + ": " + std::to_string(st.st_size) + " bytes, more than the " +
                     std::to_string(max_bytes) + " allowed");
  out.clear();
  char buf[65536];
  while (s.ok()) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = errno_status("cannot read", rel, errno);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) s = Status::fail("cannot read " + rel + ": it grew past the size allowed");
  }
  ::close(fd);
  return s;
}

Status WorkspaceFiles::list(const std::string& in, std::vector<DirEntry>& out) {
  std::string rel;
  if (auto s = relative_path(in, rel); !s.ok()) return s;
  int fd = resolve(rel, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno_status("cannot list", rel, -fd);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return errno_status("cannot list", rel, errno);
  }
  out.clear();
  while (dirent* e = ::readdir(dir)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    DirEntry d;
    d.name = e->d_name;
    d.type = S_ISREG(st.st_mode) ? DirEntry::Type::file
             : S_ISDIR(st.st_mode) ? DirEntry::Type::dir
             : S_ISLNK(st.st_mode) ? DirEntry::Type::symlink
                                   : DirEntry::Type::other;
    d.size = static_cast<uint64_t>(st.st_size);
    d.mode = st.st_mode & 07777;
    out.push_back(std::move(d));
  }
  ::closedir(dir);
  return {};
}

Status WorkspaceFiles::symlink(const std::string& in, const std::string& target) {
  std::string rel;
  if (auto s = relative_path(in, rel); !s.ok()) return s;
  if (rel.empty()) return Status::fail("symlink needs a name");
  if (auto s = mkdirs(parent_of(rel)); !s.ok()) return s;
  int parent = resolve(parent_of(rel), O_PATH | O_DIRECTORY);
  if (parent < 0) return errno_status("cannot open directory", parent_of(rel), -parent);
  // The link is only ever followed by the workload (inside its mounts) or by us through openat2.
  std::string leaf = leaf_of(rel);
  int rc = ::symlinkat(target.c_str(), parent, leaf.c_str());
  int err = errno;
  if (rc == 0 && chown_) ::fchownat(parent, leaf.c_str(), uid_, gid_, AT_SYMLINK_NOFOLLOW);
  ::close(parent);
  return rc == 0 ? Status{} : errno_status("cannot create symlink", rel, err);
}

}  // namespace whalebox::sandbox

namespace whalebox::sandbox {

Status WorkspaceFiles::readlink(const std::string& in, std::string& target) {
  std::string rel;
  if (auto s = relative_path(in, rel); !s.ok()) return s;
  int parent = resolve(parent_of(rel), O_PATH | O_DIRECTORY);
  if (parent < 0) return errno_status("cannot open directory", parent_of(rel), -parent);
  char buf[4096];
  ssize_t n = ::readlinkat(parent, leaf_of(rel).c_str(), buf, sizeof buf);
  int err = errno;
  ::close(parent);
  if (n < 0) return errno_status("cannot read link", rel, err);
  target.assign(buf, static_cast<size_t>(n));
  return {};
}

}  // namespace whalebox::sandbox
