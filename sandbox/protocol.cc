#include "sandbox/protocol.h"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

namespace whalebox::sandbox::proto {

Writer& Writer::u32(uint32_t v) {
  buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  return *this;
}
Writer& Writer::u64(uint64_t v) {
  buf_.append(reinterpret_cast<const char*>(&v), sizeof v);
  return *this;
}
Writer& Writer::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  buf_.append(s);
  return *this;
}
Writer& Writer::strs(const std::vector<std::string>& v) {
  u32(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) str(s);
  return *this;
}

bool Reader::take(void* out, size_t n) {
  if (!ok_ || b_.size() - at_ < n) {
    ok_ = false;
    std::memset(out, 0, n);
    return false;
  }
  std::memcpy(out, b_.data() + at_, n);
  at_ += n;
  return true;
}
Type Reader::type() {
  uint8_t t = 0;
  take(&t, 1);
  return static_cast<Type>(t);
}
uint32_t Reader::u32() {
  uint32_t v;
  take(&v, sizeof v);
  return v;
}
uint64_t Reader::u64() {
  uint64_t v;
  take(&v, sizeof v);
  return v;
}
std::string Reader::str() {
  uint32_t n = u32();
  if (!ok_ || b_.size() - at_ < n) {
    ok_ = false;
    return {};
  }
  std::string s(b_.substr(at_, n));
  at_ += n;
  return s;
}
std::vector<std::string> Reader::strs() {
  uint32_t n = u32();
  std::vector<std::string> v;
  for (uint32_t i = 0; i < n && ok_; ++i) v.push_back(str());
  return v;
}

int send_packet(int sock, const std::string& bytes, const int* fds, size_t nfds) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  if (nfds > 8) return EINVAL;
  if (nfds) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

long recv_packet(int sock, std::string& out, std::vector<int>& fds, size_t max_fds) {
  // Received into a static buffer: only the pages a packet touches become resident (init's idle
  // footprint stays small) and nothing is zero-filled per packet.
  thread_local char buf[kMaxPacket];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    out.clear();
    return -errno;
  }
  out.assign(buf, static_cast<size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (fds.size() < max_fds) fds.push_back(fd);
      else ::close(fd);
    }
  }
  return n;
}

std::string PrepareMsg::encode() const {
  return Writer(Type::setup).strs(ro_paths).u32(uid).u32(gid).u32(net_loopback).u32(keep_old_root).u64(tmpfs_bytes)
      .str(seccomp_bpf).bytes();
}

bool PrepareMsg::decode(std::string_view bytes, PrepareMsg& m) {
  Reader r(bytes);
  if (r.type() != Type::setup) return false;
  m.ro_paths = r.strs();
  m.uid = r.u32();
  m.gid = r.u32();
  m.net_loopback = r.u32();
  m.keep_old_root = r.u32();
  m.tmpfs_bytes = r.u64();
  m.seccomp_bpf = r.str();
  return r.ok();
}

std::string AttachMsg::encode() const {
  Writer w(Type::attach);
  w.str(workspace).str(workspace_mount).str(hostname).u64(tmpfs_bytes).u64(file_size_bytes).u32(open_files);
  w.u32(static_cast<uint32_t>(ports.size()));
  for (uint32_t p : ports) w.u32(p);
  return w.bytes();
}

bool AttachMsg::decode(std::string_view bytes, AttachMsg& m) {
  Reader r(bytes);
  if (r.type() != Type::attach) return false;
  m.workspace = r.str();
  m.workspace_mount = r.str();
  m.hostname = r.str();
  m.tmpfs_bytes = r.u64();
  m.file_size_bytes = r.u64();
  m.open_files = r.u32();
  uint32_t n = r.u32();
  if (n > 64) return false;
  m.ports.clear();
  for (uint32_t i = 0; i < n && r.ok(); ++i) m.ports.push_back(r.u32());
  return r.ok();
}

std::string ReadyMsg::encode() const {
  Writer w(Type::ready);
  w.str(error).u32(landlock_abi).u32(prepare_steps).u32(static_cast<uint32_t>(steps_us.size()));
  for (const auto& [name, us] : steps_us) w.str(name).u64(us);
  return w.bytes();
}

bool ReadyMsg::decode(std::string_view bytes, ReadyMsg& m) {
  Reader r(bytes);
  if (r.type() != Type::ready) return false;
  m.error = r.str();
  m.landlock_abi = r.u32();
  m.prepare_steps = r.u32();
  uint32_t n = r.u32();
  for (uint32_t i = 0; i < n && i < 64 && r.ok(); ++i) {
    std::string name = r.str();
    m.steps_us.emplace_back(std::move(name), r.u64());
  }
  return r.ok();
}

}  // namespace whalebox::sandbox::proto

namespace whalebox::sandbox::proto {

std::string ExecMsg::encode() const {
  return Writer(Type::exec).u64(id).u64(timeout_ms).str(cwd).strs(argv).strs(env).bytes();
}

bool ExecMsg::decode(std::string_view bytes, ExecMsg& m) {
  Reader r(bytes);
  if (r.type() != Type::exec) return false;
  m.id = r.u64();
  m.timeout_ms = r.u64();
  m.cwd = r.str();
  m.argv = r.strs();
  m.env = r.strs();
  return r.ok() && !m.argv.empty();
}

std::string ExitedMsg::encode() const {
  return Writer(Type::exited)
      .u64(id).u32(started).u32(wait_status).u32(timed_out).u64(cpu_us).u64(maxrss_kb).str(error)
      .bytes();
}

bool ExitedMsg::decode(std::string_view bytes, ExitedMsg& m) {
  Reader r(bytes);
  if (r.type() != Type::exited) return false;
  m.id = r.u64();
  m.started = r.u32();
  m.wait_status = r.u32();
  m.timed_out = r.u32();
  m.cpu_us = r.u64();
  m.maxrss_kb = r.u64();
  m.error = r.str();
  return r.ok();
}

}  // namespace whalebox::sandbox::proto
