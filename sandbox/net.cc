// Loopback inside the sandbox's empty network namespace.
#include <cerrno>
#include <cstring>
#include <net/if.h>
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
