#pragma once
// Starting a sandbox's init in fresh namespaces (runtime side).
#include <cstdint>
#include <functional>
#include <string>

#include "sandbox/sandbox.h"

namespace whalebox::sandbox {

struct SpawnRequest {
  std::string init_binary;
  int control_fd = -1;    // init's end of the control socket (becomes its fd 3)
  int cgroup_fd = -1;     // v2 cgroup to start in (CLONE_INTO_CGROUP), -1 for none
  bool new_net = true;    // an empty network namespace
  uint32_t uid = 0, gid = 0;            // inside
  uint32_t host_uid = 0, host_gid = 0;  // what they map to
};

struct Spawned {
  int pid = -1;
  int pidfd = -1;
  double clone_ms = 0, id_maps_ms = 0, attach_ms = 0;  // where the spawn's time went
};

// clone3 with user+pid+mount+ipc+uts+cgroup(+net) namespaces, writes the id maps, runs `attach`
// (v1 cgroup placement) and releases the child, which execs init. On failure nothing is left.
Status spawn_init(const SpawnRequest& req, const std::function<Status(int pid)>& attach, Spawned& out);

}  // namespace whalebox::sandbox
