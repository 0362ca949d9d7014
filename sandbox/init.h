#pragma once
// The resident init: PID 1 of every sandbox (the whalebox-sandbox-init binary). It receives its
// setup on fd 3 (the private control socket), builds and locks down the sandbox, then serves exec
// requests: fork + exec per command, reaping every zombie, enforcing per-command timeouts.
namespace whalebox::sandbox {

constexpr int kInitControlFd = 3;
int init_main();

}  // namespace whalebox::sandbox
