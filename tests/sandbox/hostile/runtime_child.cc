// A minimal runtime for the kill -9 and unprivileged tests: creates one sandbox in the workspace
// given as argv[1] (forwarding host port argv[3], if given), runs argv[2] as a shell command in it
// and waits (the kill -9 test kills this process mid-command).
#include <cstdlib>
#include <iostream>

#include "sandbox/sync.h"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) return 2;
  using namespace whalebox::sandbox;
  try {
    SyncRuntime runtime;
    SandboxSpec spec;
    spec.workspace = argv[1];
    if (argc == 4) {
      spec.network.mode = NetworkPolicy::Mode::ports;
      spec.network.ports = {static_cast<uint16_t>(std::atoi(argv[3]))};
    }
    auto box = runtime.create(spec);
    ExecRequest req;
    req.shell = argv[2];
    req.timeout = std::chrono::milliseconds(0);
    auto r = box->exec(req);
    std::cout << r.stdout_data << r.stderr_data << r.status.error << "exit " << r.exit_code << "\n";
    return r.status.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cout << "error: " << e.what() << "\n";
    return 1;
  }
}
