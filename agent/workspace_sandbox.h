#pragma once
// The sandbox a session runs its tools in: the process backend over one host workspace directory.
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "sandbox/sandbox.h"

namespace whalebox::agent {

// The spec for a workspace: loopback-only network, default limits.
sandbox::SandboxSpec workspace_spec(const std::string& workspace);

// Creates it; throws std::runtime_error with the backend's reason.
boost::asio::awaitable<std::shared_ptr<sandbox::Sandbox>> open_sandbox(sandbox::Backend& backend,
                                                                       const std::string& workspace);

// Destroys it and waits (errors are ignored: the process is going away).
boost::asio::awaitable<void> close_sandbox(sandbox::Sandbox& box);

// A new empty directory under $TMPDIR (or /tmp) for a run without --workspace.
std::string fresh_workspace_dir();

}  // namespace whalebox::agent
