// The process backend: discovers the cgroup layout once, reaps what dead runtimes left, creates
// ProcessSandboxes.
#include "sandbox/process_backend.h"

#include <atomic>
#include <csignal>

#include "sandbox/cgroup.h"
#include "sandbox/process_sandbox.h"

namespace whalebox::sandbox {
namespace {

class ProcessBackend final : public Backend {
 public:
  ProcessBackend(asio::any_io_executor ex, ProcessBackendOptions opts)
      : ex_(std::move(ex)), opts_(std::move(opts)), init_(find_init_binary(opts_)), tree_(CgroupTree::discover()) {
    if (opts_.reap_stale) reap_stale_cgroups(tree_);
    // Writing stdin to a command that exited must be an EPIPE error, not the death of the runtime.
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  }

  std::string name() const override { return "process"; }
  ProbeReport probe() const override { return sandbox::probe(opts_); }

  void create(SandboxSpec spec, CreateHandler done) override {
    static std::atomic<uint64_t> seq{0};
    auto box = std::make_shared<ProcessSandbox>(ex_, std::move(spec), ++seq);
    box->start(opts_, tree_, init_, std::move(done));
  }

 private:
  asio::any_io_executor ex_;
  ProcessBackendOptions opts_;
  std::string init_;
  CgroupTree tree_;
};

}  // namespace

std::unique_ptr<Backend> make_process_backend(boost::asio::any_io_executor ex, ProcessBackendOptions opts) {
  return std::make_unique<ProcessBackend>(std::move(ex), std::move(opts));
}

}  // namespace whalebox::sandbox
