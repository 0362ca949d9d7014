#include "model/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace whalebox::model {

namespace {

// Set on pool threads and on a caller while its job runs: nested parallel_for runs inline.
thread_local bool in_worker_job = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// A decode step runs a few hundred small jobs back to back. Two things keep them cheap on a
// busy machine: chunks are claimed dynamically, so the caller never waits for a thread that has
// not started (it runs the unclaimed chunks itself), and idle workers spin briefly before
// sleeping, so back-to-back jobs need no wake-up through the kernel.
constexpr int kSpins = 2000;

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int chunks) {
    std::unique_lock job_lock(job_mu_);  // one job at a time (callers on several threads queue)
    fn_ = &fn;
    n_items_ = n;
    done_.store(0);
    ++gen_;
    claim_.store(claim_word(gen_, chunks, 0));  // publishes the fields above
    if (sleepers_.load() > 0) {
      std::lock_guard lk(mu_);
      cv_.notify_all();
    }
    work(uint32_t(gen_));
    for (int spin = 0; done_.load(std::memory_order_acquire) != chunks; ++spin) {
      if (spin < kSpins) {
        cpu_relax();
        continue;
      }
      std::unique_lock lk(mu_);
      caller_waiting_.store(true);
      done_cv_.wait(lk, [&] { return done_.load() == chunks; });
      caller_waiting_.store(false);
      break;
    }
    fn_ = nullptr;
  }

 private:
  // The claim word: generation << 32 | chunk count << 16 | next chunk. The count travels in the
  // word a claim compares against: a worker still holding a word of the finished job must not
  // judge its index by the next job's count (it would claim a chunk that does not exist and
  // count it as done for the next job, whose caller then waits forever).
  static uint64_t claim_word(uint32_t gen, int chunks, int next) {
    return uint64_t(gen) << 32 | uint64_t(uint16_t(chunks)) << 16 | uint16_t(next);
  }

  // Claims and runs chunks of job `gen` until none is left (or another job replaced it).
  void work(uint32_t gen) {
    uint64_t c = claim_.load(std::memory_order_acquire);
    for (;;) {
      const int chunks = int(uint16_t(c >> 16)), i = int(uint16_t(c));
      if (uint32_t(c >> 32) != gen || i >= chunks) return;
      // Succeeds only while c is the live word: this job's fields are the ones published with it.
      if (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) continue;
      const int64_t b = n_items_ * i / chunks, e = n_items_ * (i + 1) / chunks;
      if (b < e) (*fn_)(b, e);
      if (done_.fetch_add(1) + 1 == chunks && caller_waiting_.load()) {
        std::lock_guard lk(mu_);
        done_cv_.notify_one();
      }
      c = claim_.load(std::memory_order_acquire);
    }
  }
  void loop() {
    in_worker_job = true;
    uint32_t seen = 0;
    for (;;) {
      uint32_t g = uint32_t(claim_.load(std::memory_order_acquire) >> 32);
      for (int spin = 0; g == seen && spin < kSpins && !stop_.load(std::memory_order_relaxed); ++spin) {
        cpu_relax();
        g = uint32_t(claim_.load(std::memory_order_acquire) >> 32);
      }
      if (g == seen) {
        std::unique_lock lk(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lk, [&] { return stop_.load() || uint32_t(claim_.load() >> 32) != seen; });
        sleepers_.fetch_sub(1);
        g = uint32_t(claim_.load() >> 32);
      }
      if (stop_.load()) return;
      seen = g;
      work(g);
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_, job_mu_;
  std::condition_variable cv_, done_cv_;
  uint32_t gen_ = 0;
  std::atomic<uint64_t> claim_{0};  // claim_word(): generation, chunk count, next chunk
  std::atomic<int> done_{0}, sleepers_{0};
  std::atomic<bool> stop_{false}, caller_waiting_{false};
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_items_ = 0;
};

// WHALEBOX_THREADS when set (a container's CPU quota is not what the machine reports), else the
// cores this process may run on.
int default_thread_count() {
  if (const char* e = std::getenv("WHALEBOX_THREADS"); e && *e) {
    char* end = nullptr;
    long n = std::strtol(e, &end, 10);
    if (*end == 0 && n >= 1 && n <= 1024) return int(n);
    std::fprintf(stderr, "whalebox: WHALEBOX_THREADS=%s is not a thread count (1-1024); ignored\n", e);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

std::mutex g_mu;
std::unique_ptr<Pool> g_pool;
int g_wanted = 0;

Pool& pool() {
  // Read once: it makes system calls, and a decode step makes hundreds of jobs.
  static const int hardware = default_thread_count();
  std::lock_guard lk(g_mu);
  int want = g_wanted > 0 ? g_wanted : hardware;
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
  if (in_worker_job) {  // nested (per-token work inside a prefill split): no pool lookup at all
    fn(0, n);
    return;
  }
  Pool& p = pool();
  // A few chunks per thread, so a thread that starts late (or is preempted) leaves less behind.
  int64_t chunks = std::min<int64_t>({4 * int64_t(p.size()), std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)),
                                      int64_t(UINT16_MAX)});  // the claim word holds 16 bits
  if (p.size() <= 1 || chunks <= 1) {
    fn(0, n);
    return;
  }
  in_worker_job = true;
  p.run(n, fn, int(chunks));
  in_worker_job = false;
}

}  // namespace whalebox::model
