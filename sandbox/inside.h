#pragma once
// The steps init takes inside the fresh namespaces, in this order (see spec §3): become the
// sandbox identity keeping capabilities, build the mount tree and pivot into it, then shed every
// privilege: capabilities, no-new-privs, Landlock, seccomp. Each returns "" or why it failed.
#include <string>

#include "sandbox/protocol.h"

namespace whalebox::sandbox::inside {

// caps.cc
std::string become(uint32_t uid, uint32_t gid);  // setres[ug]id, keeping capabilities for setup
std::string drop_capabilities();                 // bounding, ambient, inheritable, permitted, effective

// mounts.cc: private mounts, read-only system dirs, workspace, sized tmpfs, fresh masked /proc,
// bound device nodes; pivot_root into the new tree.
std::string setup_mounts(const proto::InitConfig& cfg);

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
