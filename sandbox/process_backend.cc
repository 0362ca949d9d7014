// The process backend: discovers the cgroup layout once, reaps what dead runtimes left, creates
// ProcessSandboxes.
#include "sandbox/process_backend.h"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>

#include "sandbox/cgroup.h"
#include "sandbox/process_sandbox.h"

namespace whalebox::sandbox {
namespace {

uint64_t next_seq() {
  static std::atomic<uint64_t> seq{0};
  return ++seq;
}

// Inits spawned and built ahead of time for the default identity and system paths (uid/gid 0
// inside, default_ro_paths()), with the default limits. A thread of its own refills it, so that
// spawning never delays the event loop, and the spawned inits build their roots meanwhile.
class Pool {
 public:
  Pool(ProcessBackendOptions opts, CgroupTree tree, std::string init)
      : opts_(std::move(opts)), tree_(std::move(tree)), init_(std::move(init)), ro_paths_(default_ro_paths()) {
    if (opts_.pool_size > 0) thread_ = std::thread([this] { refill_loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& p : ready_) discard(p);
  }

  bool fits(const SandboxSpec& spec) const { return spec.uid == 0 && spec.gid == 0 && spec.ro_paths == ro_paths_; }

  std::shared_ptr<PooledInit> take() {
    std::lock_guard<std::mutex> lock(m_);
    if (ready_.empty()) return nullptr;
    auto p = std::make_shared<PooledInit>(std::move(ready_.front()));
    ready_.pop_front();
    last_take_ = std::chrono::steady_clock::now();
    cv_.notify_all();
    return p;
  }

 private:
  void refill_loop() {
    // Not niced: the spawned inits would inherit it, and a niced thread holding the kernel's mount
    // or cgroup locks stalls the sandboxes being set up or torn down (measured: slower destroys).
    std::unique_lock<std::mutex> lock(m_);
    while (!stop_) {
      if (ready_.size() >= opts_.pool_size) {
        cv_.wait(lock);
        continue;
      }
      // Building one costs ~2 ms of CPU and takes the kernel's mount and cgroup locks: wait until
      // the sandbox just taken is past its first command, so that it never slows that one down.
      auto due = last_take_ + opts_.pool_refill_delay;
      if (std::chrono::steady_clock::now() < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      lock.unlock();
      PooledInit p;
      Status s = prespawn(opts_, tree_, init_, 0, 0, ro_paths_, next_seq(), Limits{}, p);
      lock.lock();
      if (s.ok()) ready_.push_back(std::move(p));
      else cv_.wait_for(lock, std::chrono::seconds(1));  // e.g. the pids limit of our own cgroup: retry later
    }
  }

  ProcessBackendOptions opts_;
  CgroupTree tree_;
  std::string init_;
  std::vector<std::filesystem::path> ro_paths_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<PooledInit> ready_;
  bool stop_ = false;
  std::chrono::steady_clock::time_point last_take_{};
  std::thread thread_;
};

class ProcessBackend final : public Backend {
 public:
  ProcessBackend(asio::any_io_executor ex, ProcessBackendOptions opts)
      : ex_(std::move(ex)), opts_(std::move(opts)), init_(find_init_binary(opts_)), tree_(CgroupTree::discover()) {
    if (opts_.reap_stale) reap_stale_cgroups(tree_);
    if (tree_.problem.empty()) pool_ = std::make_unique<Pool>(opts_, tree_, init_);
    // Writing stdin to a command that exited must be an EPIPE error, not the death of the runtime.
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  }

  std::string name() const override { return "process"; }
  ProbeReport probe() const override { return sandbox::probe(opts_); }

  void create(SandboxSpec spec, CreateHandler done) override {
    std::shared_ptr<PooledInit> pooled;
    if (pool_ && pool_->fits(spec)) pooled = pool_->take();
    auto box = std::make_shared<ProcessSandbox>(ex_, std::move(spec), next_seq());
    box->start(opts_, tree_, init_, pooled, std::move(done));
  }

 private:
  asio::any_io_executor ex_;
  ProcessBackendOptions opts_;
  std::string init_;
  CgroupTree tree_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<Backend> make_process_backend(boost::asio::any_io_executor ex, ProcessBackendOptions opts) {
  return std::make_unique<ProcessBackend>(std::move(ex), std::move(opts));
}

}  // namespace whalebox::sandbox
