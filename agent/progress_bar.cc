#include "agent/progress_bar.h"

#include <string>

namespace whalebox::agent {

ProgressBar::ProgressBar(FILE* out, size_t total, size_t already_done)
    : out_(out), total_(total), base_(already_done) {}

void ProgressBar::update(size_t done, size_t failed, size_t running) {
  done_ = done;
  failed_ = failed;
  running_ = running;
  constexpr int width = 30;
  int filled = total_ ? static_cast<int>(width * done / total_) : width;
  std::string bar(filled, '#');
  bar.append(width - filled, '-');
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  size_t this_run = done > base_ ? done - base_ : 0;
  double rate = secs > 0 ? this_run / secs : 0;
  std::string eta = rate > 0 ? std::to_string(static_cast<long>((total_ - done) / rate)) + "s" : "?";
  fprintf(out_, "\r\x1b[K[%s] %zu/%zu done, %zu failed, %zu running, %.2f tasks/s, ETA %s", bar.c_str(), done,
          total_, failed, running, rate, eta.c_str());
  fflush(out_);
}

void ProgressBar::finish() {
  update(done_, failed_, 0);
  fputc('\n', out_);
  fflush(out_);
}

}  // namespace whalebox::agent
