#pragma once
// Runtime side of one process-tier sandbox: owns its init (pidfd), control socket, cgroups and
// workspace fd; turns exec requests into packets + pipes and the replies into ExecResults.
#include <array>
#include <map>
#include <memory>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "sandbox/cgroup.h"
#include "sandbox/namespaces.h"
#include "sandbox/process_backend.h"
#include "sandbox/port_forward.h"
#include "sandbox/protocol.h"
#include "sandbox/workspace_files.h"

namespace whalebox::sandbox {

namespace asio = boost::asio;

struct ExecState {
  uint64_t id = 0;
  uint64_t max_out = 0, max_err = 0;
  std::string stdin_data;
  OutputHandler on_output;
  ExecHandler done;
  ExecResult result;
  std::unique_ptr<asio::posix::stream_descriptor> out, err, in;
  std::unique_ptr<asio::steady_timer> grace;
  bool out_eof = false, err_eof = false, exited = false, finished = false;
  std::chrono::steady_clock::time_point start;
  uint64_t oom_base = 0, pids_base = 0;
  std::shared_ptr<CancelHandle> cancel;
  std::array<char, 65536> out_buf{}, err_buf{};
};

// An init started in its own namespaces and cgroup and sent the spec-independent setup (system
// mounts, identity): it builds its root and then waits for the attach. A pooled one is built ahead
// of time, so create() becomes "write limits if they differ, clone the workspace, attach".
struct PooledInit {
  Cgroup cgroup;
  Limits limits;  // what the cgroup holds now
  Spawned child;
  int control = -1;
  std::vector<std::pair<std::string, double>> steps_ms;  // runtime-side steps so far
};
Status prespawn(const ProcessBackendOptions& opts, const CgroupTree& tree, const std::string& init_binary,
                uint32_t uid, uint32_t gid, const std::vector<std::filesystem::path>& ro_paths, uint64_t seq,
                const Limits& limits, PooledInit& out);
void discard(PooledInit& p);  // kills and reaps the init, removes its cgroup

class ProcessSandbox final : public Sandbox, public std::enable_shared_from_this<ProcessSandbox> {
 public:
  ProcessSandbox(asio::any_io_executor ex, SandboxSpec spec, uint64_t seq);
  ~ProcessSandbox() override;

  // Creates cgroups, spawns init, sends the setup; `done` runs once init is ready (or failed).
  // `pooled` (may be null) is a pre-spawned init to use instead of spawning one.
  void start(const ProcessBackendOptions& opts, const CgroupTree& tree, const std::string& init_binary,
             std::shared_ptr<PooledInit> pooled, CreateHandler done);

  const std::string& id() const override { return id_; }
  const SandboxSpec& spec() const override { return spec_; }
  void exec(ExecRequest req, OutputHandler on_output, ExecHandler done) override;
  void put_file(std::string path, std::string data, uint32_t mode, StatusHandler done) override;
  void get_file(std::string path, uint64_t max_bytes, DataHandler done) override;
  void list(std::string path, ListHandler done) override;
  void put_tar(std::string dir, std::string tar, StatusHandler done) override;
  void get_tar(std::string dir, DataHandler done) override;
  void stats(StatsHandler done) override;
  void kill(StatusHandler done) override;
  void destroy(StatusHandler done) override;

 private:
  enum class State { starting, ready, dead };
  Status launch(const ProcessBackendOptions& opts, const CgroupTree& tree, const std::string& init_binary,
                PooledInit* pooled);
  void read_control();
  void on_packet(const std::string& packet, std::vector<int>& fds);  // takes the fds it keeps
  void watch_init();
  void on_init_exit(const std::string& why);
  void start_exec(ExecRequest req, OutputHandler on_output, ExecHandler done);
  void read_output(std::shared_ptr<ExecState> st, Stream which);
  void on_exited(const proto::ExitedMsg& m);
  void maybe_finish(const std::shared_ptr<ExecState>& st);
  void finish(const std::shared_ptr<ExecState>& st);
  void begin_destroy();
  void arm_idle();
  std::string path_in(const std::string& cwd) const;
  template <class F> void on_strand(F&& f);
  void deliver_cancel(uint64_t exec_id, int signal);

  asio::strand<asio::any_io_executor> strand_;
  SandboxSpec spec_;
  std::string id_;
  uint64_t seq_;
  State state_ = State::starting;
  std::string dead_reason_;
  Cgroup cgroup_;
  WorkspaceFiles files_;
  int pid_ = -1;
  asio::posix::stream_descriptor control_;
  asio::posix::stream_descriptor pidfd_;
  asio::steady_timer lifetime_, idle_, setup_deadline_;
  CreateHandler on_ready_;
  // Held while someone waits on us (create or destroy pending) so that dropping every other
  // reference cannot lose their handler; otherwise pending I/O holds only weak references.
  std::shared_ptr<ProcessSandbox> keep_alive_;
  std::vector<StatusHandler> on_destroyed_;
  std::map<uint64_t, std::shared_ptr<ExecState>> execs_;
  PortForwarder ports_;
  bool from_pool_ = false;
  std::vector<std::pair<std::string, double>> setup_ms_;
  std::chrono::steady_clock::time_point attach_sent_;
  uint64_t next_exec_ = 1;
  std::string packet_;
};

}  // namespace whalebox::sandbox
