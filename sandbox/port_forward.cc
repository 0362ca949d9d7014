#include "sandbox/port_forward.h"

#include <array>
#include <list>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace whalebox::sandbox {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kBuffer = 64 * 1024;  // per direction: a connection's memory is bounded

// One forwarded connection: inside client <-> host 127.0.0.1:port, each direction half-closed on EOF.
struct Connection : std::enable_shared_from_this<Connection> {
  tcp::socket inside, host;
  std::array<char, kBuffer> up{}, down{};
  int open_directions = 2;
  Connection(tcp::socket in, const asio::any_io_executor& ex) : inside(std::move(in)), host(ex) {}

  void start(uint16_t port) {
    host.async_connect({asio::ip::address_v4::loopback(), port}, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->close();  // nothing listens on the host port: the client sees a reset
      pump(self, self->inside, self->host, self->up);
      pump(self, self->host, self->inside, self->down);
    });
  }
  static void pump(const std::shared_ptr<Connection>& self, tcp::socket& from, tcp::socket& to, std::array<char, kBuffer>& buf) {
    from.async_read_some(asio::buffer(buf), [self, &from, &to, &buf](boost::system::error_code ec, size_t n) {
      if (ec) {
        boost::system::error_code ignored;
        to.shutdown(tcp::socket::shutdown_send, ignored);
        if (--self->open_directions == 0 || ec != asio::error::eof) self->close();
        return;
      }
      asio::async_write(to, asio::buffer(buf.data(), n), [self, &from, &to, &buf](boost::system::error_code ec, size_t) {
        if (ec) return self->close();
        pump(self, from, to, buf);
      });
    });
  }
  void close() {
    boost::system::error_code ignored;
    inside.close(ignored);
    host.close(ignored);
  }
};

}  // namespace

struct PortForwarder::State : std::enable_shared_from_this<State> {
  asio::any_io_executor ex;
  std::list<tcp::acceptor> acceptors;
  std::list<std::weak_ptr<Connection>> connections;
  bool closed = false;

  void accept(tcp::acceptor& a, uint16_t port) {
    a.async_accept([self = shared_from_this(), &a, port](boost::system::error_code ec, tcp::socket s) {
      if (self->closed || ec == asio::error::operation_aborted) return;
      if (!ec) {
        auto c = std::make_shared<Connection>(std::move(s), self->ex);
        self->connections.remove_if([](const std::weak_ptr<Connection>& w) { return w.expired(); });
        self->connections.push_back(c);
        c->start(port);
      }
      self->accept(a, port);
    });
  }
};

PortForwarder::PortForwarder(asio::any_io_executor ex) : state_(std::make_shared<State>()) { state_->ex = std::move(ex); }

PortForwarder::~PortForwarder() { close(); }

void PortForwarder::add(int listen_fd, uint16_t port) {
  auto& a = state_->acceptors.emplace_back(state_->ex);
  boost::system::error_code ec;
  a.assign(tcp::v4(), listen_fd, ec);
  if (ec) {
    ::close(listen_fd);
    return;
  }
  state_->accept(a, port);
}

void PortForwarder::close() {
  state_->closed = true;
  boost::system::error_code ignored;
  for (auto& a : state_->acceptors) a.close(ignored);
  for (auto& w : state_->connections)
    if (auto c = w.lock()) c->close();
  state_->connections.clear();
}

}  // namespace whalebox::sandbox
