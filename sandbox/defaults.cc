// Defaults of the sandbox spec, and where the init helper lives.
#include <cstdlib>
#include <unistd.h>

#include "sandbox/process_backend.h"

namespace whalebox::sandbox {

std::vector<std::filesystem::path> default_ro_paths() {
  // Only what a shell, interpreters and compilers read; /etc is exposed file by file so that
  // secrets (shadow, ssh keys, credentials) never appear inside.
  return {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
          "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
          "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/resolv.conf",
          "/etc/localtime", "/etc/protocols", "/etc/services", "/etc/mime.types", "/etc/ssl",
          "/etc/ca-certificates", "/etc/os-release", "/etc/debian_version", "/etc/bash.bashrc",
          "/etc/profile", "/etc/inputrc", "/etc/python3", "/etc/python3.11"};
}

std::vector<std::string> default_env() {
  return {"PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "HOME=/workspace",
          "LANG=C.UTF-8", "TERM=dumb", "TMPDIR=/tmp"};
}

std::string find_init_binary(const ProcessBackendOptions& opts) {
  if (!opts.init_binary.empty()) return opts.init_binary;
  if (const char* env = std::getenv("WHALEBOX_SANDBOX_INIT"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = self.parent_path() / "whalebox-sandbox-init";
    if (::access(beside.c_str(), X_OK) == 0) return beside;
  }
#ifdef WHALEBOX_SANDBOX_INIT_PATH
  if (::access(WHALEBOX_SANDBOX_INIT_PATH, X_OK) == 0) return WHALEBOX_SANDBOX_INIT_PATH;
#endif
  return "";
}

}  // namespace whalebox::sandbox
