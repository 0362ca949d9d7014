#pragma once
// Cgroup backend for the process tier. Handles the hybrid layout (v1 memory/pids/cpu do the
// limiting, the v2 mount tracks, kills and places processes with CLONE_INTO_CGROUP) and pure v2.
// Every sandbox cgroup lives under the runtime's *own* cgroup, in a `whalebox` child directory.
#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace whalebox::sandbox {

struct CgroupTree {
  std::string mode;                          // "hybrid", "v2", "v1" or "none"
  std::vector<std::string> v1_mounted;       // every v1 controller mounted on this host
  std::vector<std::string> v2_controllers;   // controllers available in the v2 hierarchy
  struct Dir {
    std::string controller;  // "memory", "pids", "cpu" (v1) or "" (v2)
    std::string base;        // <mount><own path>/whalebox
  };
  std::vector<Dir> dirs;     // where sandbox cgroups go; the v2 one (if any) first
  bool v2_kill = false;      // cgroup.kill is available
  std::string problem;       // why sandboxes cannot get memory+pids+cpu limits here, if so

  // Reads /proc/self/cgroup and /proc/self/mountinfo.
  static CgroupTree discover();
  const Dir* v2() const;
  const Dir* v1(const std::string& controller) const;
};

// One sandbox's cgroups (one directory per hierarchy used).
class Cgroup {
 public:
  Cgroup() = default;
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  Cgroup(Cgroup&& o) noexcept;
  Cgroup& operator=(Cgroup&& o) noexcept;

  // Creates `name` under every base dir and writes the limits.
  Status create(const CgroupTree& tree, const std::string& name, const Limits& limits);
  Status set_limits(const Limits& limits);               // (re)writes memory, pids, cpu limits
  int v2_fd() const { return v2_fd_; }                   // for CLONE_INTO_CGROUP, -1 if none
  Status attach(int pid) const;                          // v1 hierarchies (v2 is done by clone3)
  uint64_t oom_kills() const;                            // OOM kills since creation
  uint64_t pids_limit_hits() const;                      // forks refused by pids.max
  uint64_t memory_bytes() const, memory_peak_bytes() const;
  uint32_t pids() const;
  double cpu_ms() const;
  void kill_all() const;                                 // SIGKILL every process inside
  Status remove();                                       // rmdir all (retries while busy)
  bool empty() const { return paths_.empty(); }

 private:
  std::string path(const std::string& controller) const;  // "" = v2
  std::vector<std::pair<std::string, std::string>> paths_;  // controller -> dir
  int v2_fd_ = -1;
  bool v2_kill_ = false;
  bool v2_mode_ = false;
};

// Name of a new sandbox cgroup: <runtime pid>.<runtime start time>.<seq>, so that a later runtime
// can tell whose it is.
std::string cgroup_name(uint64_t seq);
// Kills the processes in and removes every sandbox cgroup whose runtime is gone. Returns how many.
int reap_stale_cgroups(const CgroupTree& tree);

}  // namespace whalebox::sandbox
