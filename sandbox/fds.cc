// File descriptors and rlimits of the sandbox's processes.
#include <cerrno>
#include <cstring>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/inside.h"

namespace whalebox::sandbox::inside {

void close_fds_from(int first) {
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
  for (int fd = first; fd < 65536; ++fd) ::close(fd);  // kernels before 5.9
}

std::string set_limits(const proto::AttachMsg& cfg) {
  struct {
    int resource;
    rlim_t value;
    const char* name;
  } limits[] = {
      {RLIMIT_FSIZE, cfg.file_size_bytes, "RLIMIT_FSIZE"},
      {RLIMIT_NOFILE, cfg.open_files, "RLIMIT_NOFILE"},
      {RLIMIT_CORE, 0, "RLIMIT_CORE"},
  };
  for (const auto& l : limits) {
    if (l.value == 0 && l.resource != RLIMIT_CORE) continue;
    rlimit r{l.value, l.value};
    if (setrlimit(l.resource, &r) != 0) return std::string(l.name) + ": " + std::strerror(errno);
  }
  return "";
}

}  // namespace whalebox::sandbox::inside
