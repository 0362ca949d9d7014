#include "agent/interrupts.h"

#include <csignal>

namespace whalebox::agent {

Interrupts::Interrupts(boost::asio::io_context& io, std::function<void()> cancel, std::function<void()> leave)
    : signals_(io, SIGINT, SIGTERM), cancel_(std::move(cancel)), leave_(std::move(leave)) {
  wait();
}

void Interrupts::wait() {
  signals_.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGTERM || ++count_ >= 2) {
      leaving_ = true;
      cancel_();
      leave_();
    } else {
      cancel_();
    }
    wait();
  });
}

}  // namespace whalebox::agent
