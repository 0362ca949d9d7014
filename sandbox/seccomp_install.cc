// Loading the seccomp filter inside the sandbox. The runtime compiles the policy once
// (seccomp.cc) and sends the program, so init neither links libseccomp nor rebuilds it per sandbox.
#include <cerrno>
#include <cstring>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/inside.h"

namespace whalebox::sandbox::inside {

std::string install_seccomp(const std::string& bpf) {
  if (bpf.empty() || bpf.size() % sizeof(sock_filter) != 0 || bpf.size() / sizeof(sock_filter) > BPF_MAXINSNS)
    return "malformed seccomp program (" + std::to_string(bpf.size()) + " bytes)";
  sock_fprog prog{static_cast<unsigned short>(bpf.size() / sizeof(sock_filter)),
                  reinterpret_cast<sock_filter*>(const_cast<char*>(bpf.data()))};
  // No-new-privs is already set by drop_capabilities(), as the kernel requires without CAP_SYS_ADMIN.
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    return std::string("seccomp(SET_MODE_FILTER): ") + std::strerror(errno);
  return "";
}

}  // namespace whalebox::sandbox::inside
