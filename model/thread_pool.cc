#include "model/thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace whalebox::model {

namespace {

// Set on pool threads and on a caller while its job runs: nested parallel_for runs inline.
thread_local bool in_worker_job = false;

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
      ++gen_;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int chunks) {
    std::unique_lock job_lock(job_mu_);  // one job at a time (callers on several threads queue)
    {
      std::lock_guard lk(mu_);
      fn_ = &fn;
      n_items_ = n;
      chunks_ = chunks;
      pending_ = chunks - 1;
      ++gen_;
    }
    cv_.notify_all();
    chunk(0);
    std::unique_lock lk(mu_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void chunk(int i) {
    int64_t b = n_items_ * i / chunks_, e = n_items_ * (i + 1) / chunks_;
    if (b < e) (*fn_)(b, e);
  }
  void loop(int id) {
    in_worker_job = true;
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return gen_ != seen; });
        seen = gen_;
        if (stop_) return;
        if (id >= chunks_) continue;
      }
      chunk(id);
      std::lock_guard lk(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_, job_mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t gen_ = 0;
  bool stop_ = false;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_items_ = 0;
  int chunks_ = 1;
  int pending_ = 0;
};

std::mutex g_mu;
std::unique_ptr<Pool> g_pool;
int g_wanted = 0;

Pool& pool() {
  std::lock_guard lk(g_mu);
  int want = g_wanted > 0 ? g_wanted : int(std::max(1u, std::thread::hardware_concurrency()));
  if (!g_pool || g_pool->size() != want) g_pool = std::make_unique<Pool>(want);
  return *g_pool;
}

}  // namespace

int thread_count() { return pool().size(); }

void set_thread_count(int n) {
  std::lock_guard lk(g_mu);
  g_wanted = n;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Pool& p = pool();
  int64_t chunks = std::min<int64_t>(p.size(), std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
  if (chunks <= 1 || in_worker_job) {
    fn(0, n);
    return;
  }
  in_worker_job = true;
  p.run(n, fn, int(chunks));
  in_worker_job = false;
}

}  // namespace whalebox::model
