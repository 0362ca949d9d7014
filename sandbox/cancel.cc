// CancelHandle: the caller's side of cancelling one exec; the backend binds the delivery.
#include "sandbox/sandbox.h"

namespace whalebox::sandbox {

void CancelHandle::cancel(int signal) {
  std::function<void(int)> deliver;
  {
    std::lock_guard<std::mutex> lock(m_);
    if (!first_signal_) first_signal_ = signal;
    deliver = deliver_;
  }
  if (deliver) deliver(signal);  // outside the lock: it may post, or re-enter bind()
}

bool CancelHandle::cancelled() const {
  std::lock_guard<std::mutex> lock(m_);
  return first_signal_ != 0;
}

void CancelHandle::bind(std::function<void(int)> deliver) {
  int pending;
  {
    std::lock_guard<std::mutex> lock(m_);
    deliver_ = deliver;
    pending = first_signal_;
  }
  if (deliver && pending) deliver(pending);
}

}  // namespace whalebox::sandbox
