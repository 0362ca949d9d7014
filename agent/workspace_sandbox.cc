#include "agent/workspace_sandbox.h"

#include <cstdlib>
#include <stdexcept>

#include "agent/sandbox_await.h"

namespace whalebox::agent {

sandbox::SandboxSpec workspace_spec(const std::string& workspace) {
  sandbox::SandboxSpec spec;
  spec.workspace = workspace;
  return spec;
}

boost::asio::awaitable<std::shared_ptr<sandbox::Sandbox>> open_sandbox(sandbox::Backend& backend,
                                                                       const std::string& workspace) {
  auto [st, box] = co_await create(backend, workspace_spec(workspace));
  if (!st.ok()) throw std::runtime_error("cannot create the sandbox for " + workspace + ": " + st.error);
  co_return box;
}

boost::asio::awaitable<void> close_sandbox(sandbox::Sandbox& box) {
  co_await await_callback<sandbox::Status>([&](auto done) { box.destroy(std::move(done)); });
}

std::string fresh_workspace_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/whalebox-workspace-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a workspace directory under " + pattern);
  return pattern;
}

}  // namespace whalebox::agent
