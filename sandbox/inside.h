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
std::string limit_capabilities();  // securebits, bounding and ambient sets: nothing to gain by exec
std::string drop_capabilities();   // inheritable, permitted, effective; no-new-privs

// mounts.cc: private mounts, read-only system dirs, sized tmpfs, fresh masked /proc, bound device
// nodes, workspace. Three steps: the sources are cloned while init still has the runtime's host
// identity (it can traverse the runtime's private dirs); the tree is built and pivoted into after
// become() (files on our tmpfs need a mapped owner), keeping the old root at /.old; at attach the
// workspace and the sized tmpfs mounts go in, the old root is detached and / made read-only.
struct MountSources {
  struct Tree {
    std::string target;
    int fd;
    bool is_file;
  };
  std::vector<Tree> trees, devs;
  std::vector<std::pair<std::string, std::string>> links;  // path -> symlink target
};
std::string clone_mount_sources(const std::vector<std::string>& ro_paths, MountSources& out);
// `keep_old_root`: leave the host root at /.old for attach_workspace() to resolve the workspace
// path in (when the runtime cannot clone the workspace mount itself).
std::string build_root(MountSources& src, uint64_t tmpfs_bytes, bool keep_old_root);
// `workspace_tree`: a detached mount from the runtime, or -1 to clone cfg.workspace from /.old.
// /tmp and /dev/shm were mounted with `prepared_tmpfs_bytes`; they are resized when the spec differs.
std::string attach_workspace(const proto::AttachMsg& cfg, int workspace_tree, uint64_t prepared_tmpfs_bytes);

// net.cc: bring up loopback in the empty network namespace; listening sockets on 127.0.0.1:<port>
// for the ports the runtime forwards from the host.
std::string loopback_up();
std::string listen_ports(const std::vector<uint32_t>& ports, std::vector<int>& fds);

// landlock.cc: read/execute everywhere, write only to the workspace, /tmp, /dev/shm and /dev
// nodes. Returns the ABI applied through `abi` (0 when the kernel has no Landlock).
std::string apply_landlock(const std::string& workspace_mount, int& abi);

// seccomp_install.cc: loads the filter the runtime compiled (seccomp.cc, spec §4 deny list).
std::string install_seccomp(const std::string& bpf);

// fds.cc
void close_fds_from(int first);        // every fd >= first
std::string set_limits(const proto::AttachMsg& cfg);  // RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE

}  // namespace whalebox::sandbox::inside
