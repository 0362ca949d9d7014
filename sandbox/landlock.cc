// Landlock: a second, path-based wall behind the mount tree. Debian's headers stop at ABI 2, so
// the newer access bits and the ruleset layout are defined here; the ABI is probed at run time.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/inside.h"

namespace whalebox::sandbox::inside {
namespace {

constexpr uint64_t kExecute = 1ull << 0, kWriteFile = 1ull << 1, kReadFile = 1ull << 2,
                   kReadDir = 1ull << 3, kRemoveDir = 1ull << 4, kRemoveFile = 1ull << 5,
                   kMakeChar = 1ull << 6, kMakeDir = 1ull << 7, kMakeReg = 1ull << 8,
                   kMakeSock = 1ull << 9, kMakeFifo = 1ull << 10, kMakeBlock = 1ull << 11,
                   kMakeSym = 1ull << 12, kRefer = 1ull << 13, kTruncate = 1ull << 14,
                   kIoctlDev = 1ull << 15;
constexpr uint64_t kScopeAbstractUnix = 1ull << 0, kScopeSignal = 1ull << 1;

struct RulesetAttr {  // landlock_ruleset_attr as of ABI 6
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
struct PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

constexpr int kRulePathBeneath = 1;
constexpr unsigned kCreateRulesetVersion = 1u << 0;

uint64_t fs_rights(int abi) {
  uint64_t all = (kMakeSym << 1) - 1;
  if (abi >= 2) all |= kRefer;
  if (abi >= 3) all |= kTruncate;
  if (abi >= 5) all |= kIoctlDev;
  return all;
}

}  // namespace

std::string apply_landlock(const std::string& workspace_mount, int& abi) {
  abi = static_cast<int>(syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion));
  if (abi <= 0) {
    abi = 0;
    return "";  // kernel without Landlock: the mount tree alone confines writes (probe reports it)
  }
  const uint64_t all = fs_rights(abi);
  RulesetAttr attr{all, 0, abi >= 6 ? kScopeAbstractUnix | kScopeSignal : 0};
  size_t size = abi >= 6 ? sizeof(RulesetAttr) : sizeof(uint64_t);
  int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) return std::string("landlock_create_ruleset: ") + std::strerror(errno);

  const uint64_t read = kExecute | kReadFile | kReadDir;
  const uint64_t dev = kReadFile | kWriteFile | kReadDir | (abi >= 3 ? kTruncate : 0) | (abi >= 5 ? kIoctlDev : 0);
  const uint64_t write = all & ~(kMakeChar | kMakeBlock);
  struct {
    std::string path;
    uint64_t rights;
  } rules[] = {
      {"/", read},
      {"/proc", read | kWriteFile},
      {"/dev", dev},
      {"/dev/shm", write},
      {"/tmp", write},
      {workspace_mount, write},
  };
  std::string error;
  for (const auto& r : rules) {
    int fd = ::open(r.path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) continue;
    PathBeneathAttr pb{r.rights & all, fd};
    if (syscall(SYS_landlock_add_rule, ruleset, kRulePathBeneath, &pb, 0) != 0)
      error = "landlock_add_rule " + r.path + ": " + std::strerror(errno);
    ::close(fd);
    if (!error.empty()) break;
  }
  if (error.empty() && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
    error = std::string("landlock_restrict_self: ") + std::strerror(errno);
  ::close(ruleset);
  return error;
}

}  // namespace whalebox::sandbox::inside
