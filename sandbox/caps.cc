// Credentials and capabilities of the sandbox's init.
#include <cerrno>
#include <cstring>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/inside.h"
#include "sandbox/sysfile.h"

namespace whalebox::sandbox::inside {
namespace {

std::string err(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int last_cap() {
  int n = std::atoi(read_small_file("/proc/sys/kernel/cap_last_cap").c_str());
  return n > 0 ? n : 40;
}

int capset_all(uint32_t effective_lo, uint32_t effective_hi, bool keep_permitted) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (keep_permitted && syscall(SYS_capget, &hdr, data) != 0) return -1;
  data[0].effective = effective_lo ? data[0].permitted : 0;
  data[1].effective = effective_hi ? data[1].permitted : 0;
  if (!keep_permitted) {
    data[0].permitted = data[1].permitted = 0;
    data[0].inheritable = data[1].inheritable = 0;
  }
  return static_cast<int>(syscall(SYS_capset, &hdr, data));
}

}  // namespace

std::string become(uint32_t uid, uint32_t gid) {
  // Capabilities came in as ambient ones (the runtime's uid is not mapped here); keep them across
  // the uid change so that mounts can still be set up, then make them effective again.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return err("PR_SET_KEEPCAPS");
  if (setresgid(gid, gid, gid) != 0) return err("setresgid");
  if (setresuid(uid, uid, uid) != 0) return err("setresuid");
  if (capset_all(1, 1, true) != 0) return err("capset");
  return "";
}

std::string limit_capabilities() {
  // Lock root out of regaining capabilities through exec or setuid games. None of this touches
  // the effective set, so init can still mount until drop_capabilities().
  if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                   SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
            0, 0, 0) != 0)
    return err("PR_SET_SECUREBITS");
  for (int cap = 0; cap <= last_cap(); ++cap)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return err("PR_CAPBSET_DROP");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return err("PR_CAP_AMBIENT_CLEAR_ALL");
  return "";
}

std::string drop_capabilities() {
  if (capset_all(0, 0, false) != 0) return err("capset(0)");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return err("PR_SET_NO_NEW_PRIVS");
  return "";
}

}  // namespace whalebox::sandbox::inside
