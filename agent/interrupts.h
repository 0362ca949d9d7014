#pragma once
// Ctrl-C on the event loop: the first SIGINT cancels what is in flight (the program goes on), a
// second one before rearm() asks the program to leave; SIGTERM asks it to leave at once. Both
// callbacks run on the io_context, so they may touch the session directly.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>

namespace whalebox::agent {

class Interrupts {
 public:
  Interrupts(boost::asio::io_context& io, std::function<void()> cancel, std::function<void()> leave);
  ~Interrupts() { signals_.cancel(); }
  void rearm() { count_ = 0; }  // a new operation starts: the next Ctrl-C cancels it
  bool leaving() const { return leaving_; }

 private:
  void wait();
  boost::asio::signal_set signals_;
  std::function<void()> cancel_, leave_;
  int count_ = 0;
  bool leaving_ = false;
};

}  // namespace whalebox::agent
