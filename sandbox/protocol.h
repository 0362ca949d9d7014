#pragma once
// The private channel between the runtime and a sandbox's init: a SOCK_SEQPACKET socketpair whose
// init end exists only in init (never inherited by the workload). One message per packet: a type
// byte then fields; file descriptors travel as SCM_RIGHTS.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace whalebox::sandbox::proto {

// Packets are bounded by the socket buffer; requests larger than this are refused up front.
constexpr size_t kMaxPacket = 192 * 1024;

enum class Type : uint8_t {
  setup = 1,     // runtime -> init: build the spec-independent part of the sandbox (PrepareMsg)
  ready = 2,     // init -> runtime: setup done, or failed (ReadyMsg); fds = port listeners
  attach = 8,    // runtime -> init: finish it for one spec (AttachMsg); fds = workspace mount, if any
  exec = 3,      // runtime -> init: run a command; fds = stdin, stdout, stderr
  exited = 5,    // init -> runtime: command ended (or could not be started)
  signal = 6,    // runtime -> init: signal one command's process group
  kill_all = 7,  // runtime -> init: SIGKILL everything but init
};

// Flat binary encoding: little-endian integers, length-prefixed strings.
class Writer {
 public:
  explicit Writer(Type t) { buf_.push_back(static_cast<char>(t)); }
  Writer& u32(uint32_t v);
  Writer& u64(uint64_t v);
  Writer& str(std::string_view s);
  Writer& strs(const std::vector<std::string>& v);
  const std::string& bytes() const { return buf_; }

 private:
  std::string buf_;
};

// Reads fields in order; any overrun sets ok() false and yields zeros.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  Type type();
  uint32_t u32();
  uint64_t u64();
  std::string str();
  std::vector<std::string> strs();
  bool ok() const { return ok_; }

 private:
  bool take(void* out, size_t n);
  std::string_view b_;
  size_t at_ = 0;
  bool ok_ = true;
};

// Sends one packet with optional fds. Returns 0 or an errno value.
int send_packet(int sock, const std::string& bytes, const int* fds = nullptr, size_t nfds = 0);
// Receives one packet (blocking unless the socket is non-blocking). Returns bytes read, 0 on EOF,
// -errno on error. Received fds (at most max_fds, CLOEXEC) are appended to `fds`; any beyond are closed.
long recv_packet(int sock, std::string& out, std::vector<int>& fds, size_t max_fds = 3);

// Setup in two steps, so that a pooled init can do everything spec-independent ahead of time.
// First packet: the read-only system tree and the identity. Init builds the root and pivots into
// it, keeping the old root at /.old until the attach (no workload runs before then).
struct PrepareMsg {
  std::vector<std::string> ro_paths;  // host paths
  uint32_t uid = 0, gid = 0;          // inside
  uint32_t net_loopback = 1;          // bring lo up
  uint32_t keep_old_root = 0;         // the attach will name the workspace by host path, not fd
  uint64_t tmpfs_bytes = 0;           // /tmp and /dev/shm as mounted now (resized at attach if needed)
  std::string seccomp_bpf;            // the compiled filter (struct sock_filter[]), built once by the runtime

  std::string encode() const;
  static bool decode(std::string_view bytes, PrepareMsg& out);
};

// Second packet: the spec. The workspace comes as a detached mount fd (cloned by the runtime when
// it may) or else as a host path, resolved under /.old with the sandbox's identity.
struct AttachMsg {
  std::string workspace;        // host dir
  std::string workspace_mount;  // inside path
  std::string hostname;
  uint64_t tmpfs_bytes = 0, file_size_bytes = 0;
  uint32_t open_files = 0;
  std::vector<uint32_t> ports;  // listen on 127.0.0.1:<port> inside and hand the sockets back

  std::string encode() const;
  static bool decode(std::string_view bytes, AttachMsg& out);
};

// Init's answer to the attach: an error (empty = ready), the Landlock ABI applied, and how long
// each setup step took inside (µs), prepare steps first.
struct ReadyMsg {
  std::string error;
  uint32_t landlock_abi = 0;
  uint32_t prepare_steps = 0;  // how many of steps_us came before the attach
  std::vector<std::pair<std::string, uint64_t>> steps_us;

  std::string encode() const;
  static bool decode(std::string_view bytes, ReadyMsg& out);
};

struct ExecMsg {
  uint64_t id = 0;
  uint64_t timeout_ms = 0;  // 0 = none
  std::string cwd;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // full environment

  std::string encode() const;
  static bool decode(std::string_view bytes, ExecMsg& out);
};

struct ExitedMsg {
  uint64_t id = 0;
  uint32_t started = 1;     // 0: could not fork/run at all (then `error` says why)
  uint32_t wait_status = 0; // as from wait4
  uint32_t timed_out = 0;
  uint64_t cpu_us = 0;
  uint64_t maxrss_kb = 0;
  std::string error;

  std::string encode() const;
  static bool decode(std::string_view bytes, ExitedMsg& out);
};

}  // namespace whalebox::sandbox::proto
