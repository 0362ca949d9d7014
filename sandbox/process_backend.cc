// The process backend: discovers the cgroup layout once, reaps what dead runtimes left, creates
// ProcessSandboxes.
#include "sandbox/process_backend.h"

#include <atomic>
#include <csignal>
#include <deque>
#include <mutex>

#include <boost/asio/post.hpp>

#include "sandbox/cgroup.h"
#include "sandbox/process_sandbox.h"

namespace whalebox::sandbox {
namespace {

uint64_t next_seq() {
  static std::atomic<uint64_t> seq{0};
  return ++seq;
}

// Inits spawned ahead of time for the default identity (uid/gid 0 inside), refilled in the
// background after each create. Shared with the refill tasks, so it outlives the backend if needed.
struct Pool {
  ProcessBackendOptions opts;
  CgroupTree tree;
  std::string init;
  std::mutex m;
  std::deque<PooledInit> ready;
  bool refilling = false;

  ~Pool() {
    for (auto& p : ready) discard(p);
  }

  std::shared_ptr<PooledInit> take() {
    std::lock_guard<std::mutex> lock(m);
    if (ready.empty()) return nullptr;
    auto p = std::make_shared<PooledInit>(std::move(ready.front()));
    ready.pop_front();
    return p;
  }

  static void refill(const std::shared_ptr<Pool>& pool, const asio::any_io_executor& ex) {
    {
      std::lock_guard<std::mutex> lock(pool->m);
      if (pool->refilling || pool->ready.size() >= pool->opts.pool_size) return;
      pool->refilling = true;
    }
    asio::post(ex, [pool] {
      PooledInit p;
      Status s = prespawn(pool->opts, pool->tree, pool->init, 0, 0, next_seq(), Limits{}, p);
      std::lock_guard<std::mutex> lock(pool->m);
      pool->refilling = false;
      if (s.ok()) pool->ready.push_back(std::move(p));
    });
  }
};

class ProcessBackend final : public Backend {
 public:
  ProcessBackend(asio::any_io_executor ex, ProcessBackendOptions opts)
      : ex_(std::move(ex)), opts_(std::move(opts)), init_(find_init_binary(opts_)), tree_(CgroupTree::discover()) {
    if (opts_.reap_stale) reap_stale_cgroups(tree_);
    pool_ = std::make_shared<Pool>();
    pool_->opts = opts_;
    pool_->tree = tree_;
    pool_->init = init_;
    if (tree_.problem.empty()) Pool::refill(pool_, ex_);
    // Writing stdin to a command that exited must be an EPIPE error, not the death of the runtime.
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  }

  std::string name() const override { return "process"; }
  ProbeReport probe() const override { return sandbox::probe(opts_); }

  void create(SandboxSpec spec, CreateHandler done) override {
    std::shared_ptr<PooledInit> pooled;
    if (spec.uid == 0 && spec.gid == 0) pooled = pool_->take();
    auto box = std::make_shared<ProcessSandbox>(ex_, std::move(spec), next_seq());
    box->start(opts_, tree_, init_, pooled,
               [pool = pool_, ex = ex_, done = std::move(done)](Status s, std::shared_ptr<Sandbox> b) {
                 done(std::move(s), std::move(b));
                 Pool::refill(pool, ex);
               });
  }

 private:
  asio::any_io_executor ex_;
  ProcessBackendOptions opts_;
  std::string init_;
  CgroupTree tree_;
  std::shared_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<Backend> make_process_backend(boost::asio::any_io_executor ex, ProcessBackendOptions opts) {
  return std::make_unique<ProcessBackend>(std::move(ex), std::move(opts));
}

}  // namespace whalebox::sandbox
