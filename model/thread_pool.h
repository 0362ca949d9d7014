#pragma once
// One process-wide pool of worker threads (WHALEBOX_THREADS, else the CPUs this process may run
// on); parallel_for splits a range into one contiguous chunk per thread. Small jobs run inline
// (waking threads costs more).
#include <cstdint>
#include <functional>

namespace whalebox::model {

int thread_count();
void set_thread_count(int n);  // 0: the default above; takes effect for later calls
// Calls fn(begin, end) over [0, n) in chunks; `grain` is the least work per chunk.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace whalebox::model
