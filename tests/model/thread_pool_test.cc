// The thread pool under back-to-back jobs of different sizes, as a decode step runs them: every
// job covers its range exactly once and the caller returns. A worker still holding the previous
// job's claim used to count itself done for the next job, whose caller then waited forever.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "model/thread_pool.h"

namespace whalebox::model {
namespace {

TEST(ThreadPool, BackToBackJobsOfDifferentSizesEachCoverTheirRangeOnce) {
  // More threads than cores, so that workers are preempted mid-claim as on a busy machine.
  set_thread_count(4);
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 600 && !finished; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!finished) {
      std::fprintf(stderr, "parallel_for did not return within 60 s: a job lost track of its chunks\n");
      std::_Exit(1);
    }
  });
  std::vector<int> hits(64);
  int bad_jobs = 0;
  for (int job = 0; job < 100000; ++job) {
    const int64_t n = job % 3 == 0 ? 2 : job % 3 == 1 ? 16 : 5;  // 2, 16 and 5 chunks in turn
    std::fill(hits.begin(), hits.begin() + n, 0);
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) __atomic_fetch_add(&hits[size_t(i)], 1, __ATOMIC_RELAXED);
    });
    for (int64_t i = 0; i < n; ++i)
      if (hits[size_t(i)] != 1) {
        ++bad_jobs;
        break;
      }
  }
  finished = true;
  watchdog.join();
  set_thread_count(0);
  EXPECT_EQ(bad_jobs, 0) << "jobs whose items did not run exactly once before parallel_for returned";
}

}  // namespace
}  // namespace whalebox::model
