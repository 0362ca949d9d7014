#pragma once
// The steps init takes inside the fresh namespaces, in this order (see spec §3): become the
// sandbox identity keeping capabilities, build the mount tree and pivot into it, then shed every
// privilege: capabilities, no-new-privs, Landlock, seccomp. Each returns "" or why it failed.
#include <string>
#include <utility>
#include <vector>

#include "sandbox/protocol.h"

namespace whalebox::sandbox::inside {

// caps.cc
std::string become(uint32_t uid, uint32_t gid);  // setres[ug]id, keeping capabilities for setup
std::string drop_capabilities();                 // bounding, ambient, inheritable, permitted, effective

// mounts.cc: private mounts, read-only system dirs, workspace, sized tmpfs, fresh masked /proc,
// bound device nodes; pivot_root into the new tree. Two phases: the sources are cloned while init
// still has the runtime's host identity (it can traverse the runtime's private dirs), the tree is
// built after become() (files on our tmpfs need a mapped owner).
struct MountSources {
  struct Tree {
    std::string target;
    int fd;
    bool is_file;
  };
  std::vector<Tree> trees, devs;
  std::vector<std::pair<std::string, std::string>> links;  // path -> symlink target
};
std::string clone_mount_sources(const proto::InitConfig& cfg, MountSources& out);
std::string build_root(const proto::InitConfig& cfg, MountSources& src);

// net.cc: bring up loopback in the empty network namespace.
std::string loopback_up();

// landlock.cc: read/execute everywhere, write only to the workspace, /tmp, /dev/shm and /dev
// nodes. Returns the ABI applied through `abi` (0 when the kernel has no Landlock).
std::string apply_landlock(const std::string& workspace_mount, int& abi);

// seccomp.cc: the deny list of spec §4.
std::string apply_seccomp();

// fds.cc
void close_fds_from(int first);        // every fd >= first
std::string set_limits(const proto::InitConfig& cfg);  // RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE

}  // namespace whalebox::sandbox::inside
