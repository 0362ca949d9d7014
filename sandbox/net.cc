// Loopback inside the sandbox's empty network namespace.
#include <cerrno>
#include <cstring>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/inside.h"

namespace whalebox::sandbox::inside {

std::string loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  int rc = ::ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  ::close(s);
  return rc == 0 ? "" : std::string("bringing up lo: ") + std::strerror(e);
}

}  // namespace whalebox::sandbox::inside

namespace whalebox::sandbox::inside {

std::string listen_ports(const std::vector<uint32_t>& ports, std::vector<int>& fds) {
  for (uint32_t port : ports) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return std::string("socket: ") + std::strerror(errno);
    fds.push_back(s);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 128) != 0)
      return "cannot listen on 127.0.0.1:" + std::to_string(port) + " inside: " + std::strerror(errno);
  }
  return "";
}

}  // namespace whalebox::sandbox::inside
