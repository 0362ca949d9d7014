#pragma once
// `--net ports:P,…` for the process backend: init listens on 127.0.0.1:P inside the sandbox's
// otherwise empty network namespace and hands the listening sockets to the runtime, which accepts
// there and splices each connection to the host's 127.0.0.1:P. Only those ports are reachable;
// the namespace keeps no route anywhere. Unlike pasta it needs no /dev/net/tun (works rootless),
// no extra process per sandbox, and no start-up wait.
#include <cstdint>
#include <memory>

#include <boost/asio/any_io_executor.hpp>

namespace whalebox::sandbox {

class PortForwarder {
 public:
  explicit PortForwarder(boost::asio::any_io_executor ex);
  ~PortForwarder();
  PortForwarder(const PortForwarder&) = delete;
  PortForwarder& operator=(const PortForwarder&) = delete;
  // Starts accepting on `listen_fd` (a listening TCP socket, owned from now on).
  void add(int listen_fd, uint16_t port);
  // Stops accepting and closes every forwarded connection.
  void close();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace whalebox::sandbox
