#pragma once
// The sandbox interface: one backend-neutral API for running model-written commands in isolation.
// Backends (process today; container and microVM later) implement `Backend` and `Sandbox`.
//
// Everything is asynchronous on Boost.Asio: a backend is built on an executor, and every completion
// handler runs on that executor (serialised per sandbox: handlers of one sandbox never run
// concurrently with each other). `sandbox/sync.h` wraps it for callers that want blocking calls.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

namespace whalebox::sandbox {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

// Success, or why not. Errors are specific sentences meant for logs and for the model.
struct Status {
  std::string error;
  bool ok() const { return error.empty(); }
  static Status fail(std::string why) { return Status{std::move(why)}; }
};

struct Limits {
  uint64_t memory_bytes = 256 * MiB;  // memcg limit; exceeding it OOM-kills, reported as oom_killed
  uint32_t pids = 128;                // every process and thread in the sandbox, init included
  double cpus = 1.0;                  // CPU quota as a fraction of one core (0 = unlimited)
  uint64_t tmpfs_bytes = 64 * MiB;    // size of /tmp (and /dev/shm) inside
  uint64_t file_size_bytes = 256 * MiB;  // RLIMIT_FSIZE: the largest file a command may write
  uint32_t open_files = 1024;         // RLIMIT_NOFILE
  bool operator==(const Limits&) const = default;
};

struct NetworkPolicy {
  enum class Mode { none, ports };
  // none: an empty network namespace with only loopback up.
  // ports: as none, plus the listed host loopback ports (at most 8) reachable at 127.0.0.1:<port>
  // inside; nothing else is. The process backend forwards them itself (see README).
  Mode mode = Mode::none;
  std::vector<uint16_t> ports;
};

// The system directories a shell and compilers need, read-only (only those that exist are used).
std::vector<std::filesystem::path> default_ro_paths();
// PATH, HOME, LANG, TERM: the environment every command starts from unless the spec overrides it.
std::vector<std::string> default_env();

struct SandboxSpec {
  // Host directory mounted read-write at `workspace_mount`: the only writable host path. Created
  // when missing; its owner becomes the sandbox's host uid so the workload can write it.
  std::filesystem::path workspace;
  std::string workspace_mount = "/workspace";
  std::vector<std::filesystem::path> ro_paths = default_ro_paths();  // mounted at the same path
  std::vector<std::string> env = default_env();                      // "KEY=value"
  uint32_t uid = 0, gid = 0;  // identity inside; mapped to an unprivileged host uid/gid
  Limits limits;
  NetworkPolicy network;
  std::chrono::milliseconds lifetime{0};      // destroy this long after creation (0 = never)
  std::chrono::milliseconds idle_timeout{0};  // destroy after this long with no exec running (0 = never)
  std::string hostname = "sandbox";
};

// Cancels one exec (an agent's Ctrl-C) without touching anything else in the sandbox: the signal
// goes to that command's process group only, so background jobs that earlier execs left (each exec
// runs in its own session) live on, unlike Sandbox::kill(). Callable from any thread, any number of
// times (e.g. SIGINT, then SIGKILL). Cancelled before the exec starts, the exec does not start;
// after it ended, cancel() does nothing.
class CancelHandle {
 public:
  void cancel(int signal = SIGKILL);
  bool cancelled() const;
  // Backend side: `deliver` gets each signal from now on (and at once one asked for before);
  // bind({}) when the exec has ended.
  void bind(std::function<void(int signal)> deliver);

 private:
  mutable std::mutex m_;
  std::function<void(int)> deliver_;
  int first_signal_ = 0;  // 0 = never cancelled
};

struct ExecRequest {
  // Either argv (argv[0] is looked up in PATH) or a shell command run as `/bin/sh -c <shell>`.
  std::vector<std::string> argv;
  std::string shell;
  std::string cwd;                // inside path; empty = the workspace mount
  std::vector<std::string> env;   // "KEY=value", added to (and overriding) the sandbox env
  std::string stdin_data;         // written to the command's stdin, then closed
  std::chrono::milliseconds timeout{30000};  // wall clock; the command's process group is killed (0 = none)
  // Caps applied while capturing: bytes past them are read and dropped (counted), never buffered.
  uint64_t max_stdout = MiB;
  uint64_t max_stderr = MiB;
  // Optional: lets the caller cancel this exec alone (see CancelHandle).
  std::shared_ptr<CancelHandle> cancel;
};

enum class Stream { out, err };
// Called with each chunk of output as it arrives (only the bytes within the caps).
using OutputHandler = std::function<void(Stream, std::string_view)>;

struct ExecResult {
  Status status;        // not ok: the command could not be run (dead sandbox, bad request)
  int exit_code = -1;   // valid when signal == 0
  int signal = 0;       // the signal that ended the command, 0 when it exited
  bool timed_out = false;
  bool oom_killed = false;    // the memory limit killed a process of the sandbox while it ran
  bool pids_limited = false;  // a fork/clone in the sandbox failed on the pids limit while it ran
  bool cancelled = false;     // ended (or never started) because its CancelHandle was used
  std::string stdout_data, stderr_data;  // captured, within the caps
  uint64_t stdout_dropped = 0, stderr_dropped = 0;
  bool truncated() const { return stdout_dropped + stderr_dropped > 0; }
  double wall_ms = 0;
  double cpu_ms = 0;               // user + system time of the command and its reaped children
  uint64_t peak_memory_bytes = 0;  // max RSS of the command's largest process
};
using ExecHandler = std::function<void(ExecResult)>;

struct DirEntry {
  std::string name;
  enum class Type { file, dir, symlink, other } type = Type::other;
  uint64_t size = 0;
  uint32_t mode = 0;
};

struct Stats {
  uint64_t memory_bytes = 0, memory_peak_bytes = 0;
  uint32_t pids = 0;          // processes and threads alive, init included
  double cpu_ms = 0;          // total CPU time used by the sandbox so far
  uint32_t running_execs = 0;
  bool alive = false;
  // How the sandbox was made: each setup step and its time, in order. `from_pool`: create() took
  // a sandbox built ahead of time; steps done then are named "ahead.*" and were not waited for.
  bool from_pool = false;
  std::vector<std::pair<std::string, double>> setup_ms;
};

using StatusHandler = std::function<void(Status)>;
using DataHandler = std::function<void(Status, std::string)>;
using ListHandler = std::function<void(Status, std::vector<DirEntry>)>;
using StatsHandler = std::function<void(Status, Stats)>;

// A live sandbox. Paths given to the file calls are relative to the workspace and never resolve
// outside it (no `..` above it, no symlink out of it). Calls after destroy() fail with a Status.
class Sandbox {
 public:
  virtual ~Sandbox() = default;
  virtual const std::string& id() const = 0;
  virtual const SandboxSpec& spec() const = 0;

  // Runs a command; several may run at once. Processes it leaves in the background live on until
  // the sandbox is killed or destroyed.
  virtual void exec(ExecRequest req, OutputHandler on_output, ExecHandler done) = 0;

  virtual void put_file(std::string path, std::string data, uint32_t mode, StatusHandler done) = 0;
  virtual void get_file(std::string path, uint64_t max_bytes, DataHandler done) = 0;
  virtual void list(std::string path, ListHandler done) = 0;
  // Bulk transfer: a ustar stream unpacked under / packed from a workspace directory.
  virtual void put_tar(std::string dir, std::string tar, StatusHandler done) = 0;
  virtual void get_tar(std::string dir, DataHandler done) = 0;

  virtual void stats(StatsHandler done) = 0;
  // Kills every process inside (running commands and background ones); the sandbox stays usable.
  virtual void kill(StatusHandler done) = 0;
  // Kills everything, removes the sandbox's cgroups; the workspace directory stays on the host.
  virtual void destroy(StatusHandler done) = 0;
};

using CreateHandler = std::function<void(Status, std::shared_ptr<Sandbox>)>;

// What this host supports, so callers and tests can degrade with a clear reason.
struct ProbeReport {
  bool root = false;                 // the runtime's effective uid is 0
  bool in_container = false;         // /.dockerenv, /run/.containerenv or a container cgroup
  bool user_namespaces = false;      // unshare(CLONE_NEWUSER) works for this process
  bool seccomp = false, seccomp_user_notif = false;
  int landlock_abi = 0;              // 0 = unavailable
  bool clone3 = false, openat2 = false, pidfd = false;
  std::string cgroup_mode;           // "hybrid", "v2", "v1" or "none"
  std::vector<std::string> cgroup_v1_controllers;  // mounted v1 hierarchies
  std::vector<std::string> cgroup_v2_controllers;  // controllers of the v2 hierarchy
  bool cgroup_kill = false;          // the v2 hierarchy offers cgroup.kill
  bool cgroup_writable = false;      // the runtime can create cgroups under its own
  std::string pasta;                 // path of pasta(1), empty when absent
  std::string init_binary;           // the process backend's in-sandbox init helper
  std::vector<std::string> problems; // why the process backend cannot run, if it cannot
  bool process_backend_usable() const { return problems.empty(); }
  std::string to_json() const;       // one JSON object
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual ProbeReport probe() const = 0;
  // Creates and starts a sandbox. `done` gets it as soon as every check the runtime makes has
  // passed and the setup is under way: calls may follow at once. No command runs before the
  // sandbox is complete (isolation, workspace, limits); if its own setup fails, the commands sent
  // meanwhile fail with that reason and the sandbox is gone (stats().alive turns true once ready).
  virtual void create(SandboxSpec spec, CreateHandler done) = 0;
};

struct ProcessBackendOptions {
  // The in-sandbox init helper (whalebox-sandbox-init). Empty: $WHALEBOX_SANDBOX_INIT, then next to
  // /proc/self/exe, then the build tree.
  std::string init_binary;
  // Host uid/gid that the sandbox's uid/gid map to when the runtime is root (unprivileged runtimes
  // can only map their own ids).
  uint32_t host_uid = 100000, host_gid = 100000;
  // Remove cgroups and processes left by runtimes that died (kill -9) before creating anything.
  bool reap_stale = true;
  // Sandboxes built ahead of time (namespaces, cgroup, system mounts and pivot done; waiting for
  // the spec's workspace, limits, hostname and ports) so that create() only attaches those; used
  // for specs with uid/gid 0 inside and the default ro_paths. A background thread refills it. 0 disables.
  size_t pool_size = 1;
  // How long after a create() took from the pool the refill starts (ahead-of-time work kept out
  // of the new sandbox's setup and first commands).
  std::chrono::milliseconds pool_refill_delay{10};
};

// Namespaces + seccomp + Landlock + cgroups, with a resident init per sandbox.
std::unique_ptr<Backend> make_process_backend(boost::asio::any_io_executor ex,
                                              ProcessBackendOptions opts = {});

// Capability report of the process backend on this host.
ProbeReport probe(const ProcessBackendOptions& opts = {});

}  // namespace whalebox::sandbox
