#pragma once
// One status line on a terminal: [#####-----] done/total, failed, running, rate, ETA. Redrawn
// in place; callers create it only when stderr is a terminal.
#include <chrono>
#include <cstdio>

namespace whalebox::agent {

class ProgressBar {
 public:
  ProgressBar(FILE* out, size_t total, size_t already_done);
  void update(size_t done, size_t failed, size_t running);
  void finish();  // leaves the last state on its own line

 private:
  FILE* out_;
  size_t total_, base_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  size_t done_ = 0, failed_ = 0, running_ = 0;
};

}  // namespace whalebox::agent
