#include "sandbox/process_sandbox.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "sandbox/namespaces.h"
#include "sandbox/process_backend.h"

namespace whalebox::sandbox {
namespace {

constexpr auto kOutputGrace = std::chrono::milliseconds(100);  // after exit, for buffered output
constexpr auto kSetupTimeout = std::chrono::seconds(20);
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string describe_wait(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "ended";
}

std::vector<std::string> merge_env(const std::vector<std::string>& base, const std::vector<std::string>& extra) {
  std::vector<std::string> env = base;
  for (const auto& e : extra) {
    std::string key = e.substr(0, e.find('=') + 1);
    bool replaced = false;
    for (auto& b : env)
      if (b.compare(0, key.size(), key) == 0) b = e, replaced = true;
    if (!replaced) env.push_back(e);
  }
  return env;
}

}  // namespace

ProcessSandbox::ProcessSandbox(asio::any_io_executor ex, SandboxSpec spec, uint64_t seq)
    : strand_(asio::make_strand(ex)),
      spec_(std::move(spec)),
      id_("sb-" + std::to_string(::getpid()) + "-" + std::to_string(seq)),
      seq_(seq),
      control_(strand_),
      pidfd_(strand_),
      lifetime_(strand_),
      idle_(strand_),
      setup_deadline_(strand_),
      ports_(strand_) {}

ProcessSandbox::~ProcessSandbox() {
  // Dropped without destroy(): take everything down synchronously.
  if (pidfd_.is_open()) {
    int fd = pidfd_.native_handle();
    cgroup_.kill_all();
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    siginfo_t si;
    waitid(P_PIDFD, static_cast<id_t>(fd), &si, WEXITED);
  }
  cgroup_.remove();
}

template <class F>
void ProcessSandbox::on_strand(F&& f) {
  asio::post(strand_, [self = shared_from_this(), f = std::forward<F>(f)]() mutable { f(); });
}

void ProcessSandbox::start(const ProcessBackendOptions& opts, const CgroupTree& tree,
                           const std::string& init_binary, std::shared_ptr<PooledInit> pooled, CreateHandler done) {
  on_strand([this, opts, tree, init_binary, pooled, done = std::move(done)]() mutable {
    on_ready_ = std::move(done);
    keep_alive_ = shared_from_this();
    Status s = launch(opts, tree, init_binary, pooled.get());
    if (!s.ok()) {
      state_ = State::dead;
      dead_reason_ = s.error;
      cgroup_.remove();
      auto h = std::move(on_ready_);
      keep_alive_.reset();
      h(s, nullptr);
      return;
    }
    read_control();
    watch_init();
    setup_deadline_.expires_after(kSetupTimeout);
    setup_deadline_.async_wait([w = weak_from_this()](boost::system::error_code ec) {
      auto self = w.lock();
      if (self && !ec && self->state_ == State::starting) {
        self->dead_reason_ = "the sandbox init did not finish its setup in time";
        self->begin_destroy();
      }
    });
    // Pipelined: everything the runtime checks is done and the attach is on the control socket.
    // Commands sent from now on queue behind it, and init reads none before its setup is complete
    // (isolation, workspace, limits); a setup failure fails them with the reason.
    auto h = std::move(on_ready_);
    keep_alive_.reset();
    h({}, shared_from_this());
  });
}

Status prespawn(const ProcessBackendOptions& opts, const CgroupTree& tree, const std::string& init_binary,
                uint32_t uid, uint32_t gid, const std::vector<std::filesystem::path>& ro_paths, uint64_t seq,
                const Limits& limits, PooledInit& out) {
  if (init_binary.empty() || ::access(init_binary.c_str(), X_OK) != 0)
    return Status::fail("sandbox init helper not found (" + (init_binary.empty() ? std::string("searched $WHALEBOX_SANDBOX_INIT, beside the binary, the build tree") : init_binary) + ")");
  const std::string* bpf = nullptr;
  if (auto s = seccomp_program(bpf); !s.ok()) return s;
  bool root = ::geteuid() == 0;
  auto t = Clock::now();
  if (auto s = out.cgroup.create(tree, cgroup_name(seq), limits); !s.ok()) return s;
  out.limits = limits;
  out.steps_ms.emplace_back("runtime.cgroup_create", ms_since(t));
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    out.cgroup.remove();
    return Status::fail(std::string("socketpair: ") + std::strerror(errno));
  }
  SpawnRequest req;
  req.init_binary = init_binary;
  req.control_fd = sv[1];
  req.cgroup_fd = out.cgroup.v2_fd();
  req.new_net = true;
  req.uid = uid;
  req.gid = gid;
  req.host_uid = root ? opts.host_uid : ::geteuid();
  req.host_gid = root ? opts.host_gid : ::getegid();
  Status s = spawn_init(req, [&out](int pid) { return out.cgroup.attach(pid); }, out.child);
  ::close(sv[1]);
  if (!s.ok()) {
    ::close(sv[0]);
    out.cgroup.remove();
    return s;
  }
  out.steps_ms.emplace_back("runtime.clone3", out.child.clone_ms);
  out.steps_ms.emplace_back("runtime.id_maps", out.child.id_maps_ms);
  out.steps_ms.emplace_back("runtime.cgroup_attach", out.child.attach_ms);
  out.control = sv[0];
  proto::PrepareMsg prep;
  for (const auto& p : ro_paths) prep.ro_paths.push_back(p.string());
  prep.uid = uid;
  prep.gid = gid;
  prep.keep_old_root = !root;  // a root runtime clones the workspace mount itself (see launch)
  prep.tmpfs_bytes = limits.tmpfs_bytes;
  prep.seccomp_bpf = *bpf;
  if (int e = proto::send_packet(out.control, prep.encode()); e) {
    discard(out);
    return Status::fail(std::string("cannot send the setup to init: ") + std::strerror(e));
  }
  return {};
}

void discard(PooledInit& p) {
  if (p.child.pidfd >= 0) {
    p.cgroup.kill_all();
    syscall(SYS_pidfd_send_signal, p.child.pidfd, SIGKILL, nullptr, 0);
    siginfo_t si;
    waitid(P_PIDFD, static_cast<id_t>(p.child.pidfd), &si, WEXITED);
    ::close(p.child.pidfd);
    p.child.pidfd = -1;
  }
  if (p.control >= 0) ::close(p.control);
  p.control = -1;
  p.cgroup.remove();
}

Status ProcessSandbox::launch(const ProcessBackendOptions& opts, const CgroupTree& tree, const std::string& init_binary,
                              PooledInit* pooled) {
  if (auto s = validate_spec(spec_); !s.ok()) return s;
  bool root = ::geteuid() == 0;
  std::filesystem::path ws = std::filesystem::absolute(spec_.workspace);
  auto t = Clock::now();
  if (auto s = files_.open(ws, root, root ? opts.host_uid : ::geteuid(), root ? opts.host_gid : ::getegid()); !s.ok())
    return s;
  setup_ms_.emplace_back("runtime.open_workspace", ms_since(t));
  PooledInit p;
  if (pooled) {
    p = std::move(*pooled);
    from_pool_ = true;
    for (auto& [name, ms] : p.steps_ms) setup_ms_.emplace_back("ahead." + name, ms);
    t = Clock::now();
    if (!(p.limits == spec_.limits)) {
      if (auto s = p.cgroup.set_limits(spec_.limits); !s.ok()) {
        discard(p);
        return s;
      }
    }
    setup_ms_.emplace_back("runtime.cgroup_limits", ms_since(t));
  } else if (auto s = prespawn(opts, tree, init_binary, spec_.uid, spec_.gid, spec_.ro_paths, seq_, spec_.limits, p);
             !s.ok()) {
    return s;
  } else {
    setup_ms_.insert(setup_ms_.end(), p.steps_ms.begin(), p.steps_ms.end());
  }
  cgroup_ = std::move(p.cgroup);
  pid_ = p.child.pid;
  pidfd_.assign(p.child.pidfd);
  ::fcntl(p.control, F_SETFL, ::fcntl(p.control, F_GETFL) | O_NONBLOCK);
  control_.assign(p.control);

  // A root runtime clones the workspace mount itself, so init needs no access to the host path
  // (the sandbox's uid may not traverse the runtime's private dirs); otherwise init resolves it.
  t = Clock::now();
  int tree_fd = -1;
  if (root) {
    tree_fd = static_cast<int>(syscall(SYS_open_tree, files_.root_fd(), "",
                                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (tree_fd >= 0 && syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
      ::close(tree_fd);
      tree_fd = -1;
    }
  }
  setup_ms_.emplace_back("runtime.clone_workspace", ms_since(t));
  proto::AttachMsg cfg;
  cfg.workspace = ws.string();
  cfg.workspace_mount = spec_.workspace_mount;
  cfg.hostname = spec_.hostname;
  cfg.tmpfs_bytes = spec_.limits.tmpfs_bytes;
  cfg.file_size_bytes = spec_.limits.file_size_bytes;
  cfg.open_files = spec_.limits.open_files;
  if (spec_.network.mode == NetworkPolicy::Mode::ports) cfg.ports.assign(spec_.network.ports.begin(), spec_.network.ports.end());
  attach_sent_ = Clock::now();
  int e = proto::send_packet(control_.native_handle(), cfg.encode(), &tree_fd, tree_fd >= 0 ? 1 : 0);
  if (tree_fd >= 0) ::close(tree_fd);
  if (e) return Status::fail(std::string("cannot send the setup to init: ") + std::strerror(e));
  return {};
}

void ProcessSandbox::read_control() {
  control_.async_wait(asio::posix::descriptor_base::wait_read,
                      [w = weak_from_this()](boost::system::error_code ec) {
    auto self = w.lock();
    if (!self || ec) return;
    for (;;) {
      std::vector<int> fds;
      long n = proto::recv_packet(self->control_.native_handle(), self->packet_, fds, 8);
      if (n == -EAGAIN) break;
      if (n <= 0) return;  // init is gone; watch_init() reports it
      self->on_packet(self->packet_, fds);
      for (int fd : fds) ::close(fd);  // any not taken
      if (!self->control_.is_open()) return;
    }
    self->read_control();
  });
}

void ProcessSandbox::on_packet(const std::string& packet, std::vector<int>& fds) {
  proto::Reader r(packet);
  proto::Type type = r.type();
  if (type == proto::Type::ready && state_ == State::starting) {
    setup_deadline_.cancel();
    proto::ReadyMsg ready;
    if (!proto::ReadyMsg::decode(packet, ready)) ready.error = "malformed ready message from init";
    double waited = ms_since(attach_sent_), inside = 0;
    for (size_t i = 0; i < ready.steps_us.size(); ++i) {
      const auto& [name, us] = ready.steps_us[i];
      bool ahead = from_pool_ && i < ready.prepare_steps;
      setup_ms_.emplace_back((ahead ? "ahead." : "") + name, static_cast<double>(us) / 1000);
      if (!ahead) inside += static_cast<double>(us) / 1000;
    }
    // The rest of the wait: init not yet done with work started ahead, plus scheduling and IPC.
    setup_ms_.emplace_back("runtime.wait_for_init", std::max(0.0, waited - inside));
    if (!ready.error.empty()) {
      dead_reason_ = "sandbox setup failed: " + ready.error;
      begin_destroy();
      return;
    }
    size_t taken = std::min(fds.size(), spec_.network.ports.size());
    for (size_t i = 0; i < taken; ++i) ports_.add(fds[i], spec_.network.ports[i]);
    fds.erase(fds.begin(), fds.begin() + static_cast<long>(taken));
    state_ = State::ready;
    if (spec_.lifetime.count() > 0) {
      lifetime_.expires_after(spec_.lifetime);
      lifetime_.async_wait([w = weak_from_this()](boost::system::error_code ec) {
        auto self = w.lock();
        if (!self || ec || self->state_ == State::dead) return;
        self->dead_reason_ = "the sandbox reached its lifetime limit";
        self->begin_destroy();
      });
    }
    arm_idle();
  } else if (type == proto::Type::exited) {
    proto::ExitedMsg m;
    if (proto::ExitedMsg::decode(packet, m)) on_exited(m);
  }
}

void ProcessSandbox::watch_init() {
  pidfd_.async_wait(asio::posix::descriptor_base::wait_read, [w = weak_from_this()](boost::system::error_code ec) {
    auto self = w.lock();
    if (!self || ec) return;
    siginfo_t si{};
    int rc = waitid(P_PIDFD, static_cast<id_t>(self->pidfd_.native_handle()), &si, WEXITED | WNOHANG);
    if (rc != 0 || si.si_pid == 0) {
      self->watch_init();
      return;
    }
    int status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
    self->on_init_exit("the sandbox init " + describe_wait(status));
  });
}

void ProcessSandbox::on_init_exit(const std::string& why) {
  if (dead_reason_.empty()) dead_reason_ = why;
  State was = state_;
  state_ = State::dead;
  boost::system::error_code ignored;
  pidfd_.close(ignored);
  control_.close(ignored);
  lifetime_.cancel();
  idle_.cancel();
  setup_deadline_.cancel();
  ports_.close();
  cgroup_.kill_all();
  Status removed = cgroup_.remove();
  // Commands still running died with init; their pipes reach EOF now.
  for (auto& [id, st] : std::map<uint64_t, std::shared_ptr<ExecState>>(execs_)) {
    if (st->exited) continue;
    st->exited = true;
    st->result.signal = SIGKILL;
    st->result.status = Status::fail(was == State::starting ? dead_reason_  // it never ran
                                                            : "the command was killed because the sandbox ended: " + dead_reason_);
    maybe_finish(st);
  }
  if (was == State::starting && on_ready_) {
    auto h = std::move(on_ready_);
    h(Status::fail(dead_reason_), nullptr);
  }
  auto handlers = std::move(on_destroyed_);
  auto self = std::move(keep_alive_);
  for (auto& h : handlers) h(removed);
}

void ProcessSandbox::begin_destroy() {
  if (!pidfd_.is_open()) return;
  cgroup_.kill_all();
  syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), SIGKILL, nullptr, 0);
}

void ProcessSandbox::arm_idle() {
  if (spec_.idle_timeout.count() <= 0 || state_ != State::ready || !execs_.empty()) return;
  idle_.expires_after(spec_.idle_timeout);
  idle_.async_wait([w = weak_from_this()](boost::system::error_code ec) {
    auto self = w.lock();
    if (!self || ec || self->state_ != State::ready || !self->execs_.empty()) return;
    self->dead_reason_ = "the sandbox was idle longer than its idle timeout";
    self->begin_destroy();
  });
}

std::string ProcessSandbox::path_in(const std::string& cwd) const {
  if (cwd.empty()) return spec_.workspace_mount;
  if (cwd[0] == '/') return cwd;
  return spec_.workspace_mount + "/" + cwd;
}

void ProcessSandbox::exec(ExecRequest req, OutputHandler on_output, ExecHandler done) {
  on_strand([this, req = std::move(req), on_output = std::move(on_output), done = std::move(done)]() mutable {
    start_exec(std::move(req), std::move(on_output), std::move(done));
  });
}

void ProcessSandbox::start_exec(ExecRequest req, OutputHandler on_output, ExecHandler done) {
  auto fail = [&](std::string why) {
    ExecResult r;
    r.status = Status::fail(std::move(why));
    done(std::move(r));
  };
  if (state_ == State::dead) return fail("sandbox is gone: " + dead_reason_);
  if (req.cancel && req.cancel->cancelled()) {
    ExecResult r;
    r.status = Status::fail("the command was cancelled before it started");
    r.cancelled = true;
    return done(std::move(r));
  }
  proto::ExecMsg m;
  m.id = next_exec_++;
  m.timeout_ms = static_cast<uint64_t>(std::max<int64_t>(0, req.timeout.count()));
  m.cwd = path_in(req.cwd);
  if (!req.shell.empty()) m.argv = {"/bin/sh", "-c", req.shell};
  else m.argv = req.argv;
  if (m.argv.empty() || m.argv[0].empty()) return fail("exec needs argv or a shell command");
  for (const auto& a : m.argv)
    if (a.find('\0') != std::string::npos) return fail("arguments must not contain NUL bytes");
  for (const auto& e : req.env)
    if (e.find('=') == std::string::npos || e[0] == '=') return fail("environment entry '" + e + "' is not KEY=value");
  m.env = merge_env(spec_.env, req.env);
  std::string packet = m.encode();
  if (packet.size() > proto::kMaxPacket - 64)
    return fail("command and environment take " + std::to_string(packet.size()) + " bytes, more than " +
                std::to_string(proto::kMaxPacket - 64) + "; pass large data through stdin or put_file");

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return fail(std::string("pipe: ") + std::strerror(errno));
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
    return fail(std::string("pipe: ") + std::strerror(errno));
  }
  auto st = std::make_shared<ExecState>();
  st->id = m.id;
  st->max_out = req.max_stdout;
  st->max_err = req.max_stderr;
  st->stdin_data = std::move(req.stdin_data);
  st->on_output = std::move(on_output);
  st->done = std::move(done);
  st->start = std::chrono::steady_clock::now();
  st->oom_base = cgroup_.oom_kills();
  st->pids_base = cgroup_.pids_limit_hits();
  st->cancel = std::move(req.cancel);
  int child_fds[3] = {in[0], out[1], err[1]};
  int e = proto::send_packet(control_.native_handle(), packet, child_fds, 3);
  for (int fd : child_fds) ::close(fd);
  if (e) {
    for (int fd : {in[1], out[0], err[0]}) ::close(fd);
    ExecResult r;
    r.status = Status::fail(std::string("cannot reach the sandbox init: ") + std::strerror(e));
    return st->done(std::move(r));
  }
  st->out = std::make_unique<asio::posix::stream_descriptor>(strand_, out[0]);
  st->err = std::make_unique<asio::posix::stream_descriptor>(strand_, err[0]);
  st->out->non_blocking(true);
  st->err->non_blocking(true);
  execs_[st->id] = st;
  idle_.cancel();
  if (st->stdin_data.empty()) {
    ::close(in[1]);
  } else {
    st->in = std::make_unique<asio::posix::stream_descriptor>(strand_, in[1]);
    st->in->non_blocking(true);
    asio::async_write(*st->in, asio::buffer(st->stdin_data), [st](boost::system::error_code, size_t) {
      boost::system::error_code ignored;
      st->in->close(ignored);  // EOF for the command (or it stopped reading: EPIPE, fine)
    });
  }
  read_output(st, Stream::out);
  read_output(st, Stream::err);
  if (st->cancel)
    st->cancel->bind([w = weak_from_this(), id = st->id](int signal) {
      if (auto self = w.lock()) self->on_strand([self, id, signal] { self->deliver_cancel(id, signal); });
    });
}

void ProcessSandbox::deliver_cancel(uint64_t exec_id, int signal) {
  auto it = execs_.find(exec_id);
  if (it == execs_.end() || it->second->exited || state_ == State::dead) return;
  it->second->result.cancelled = true;
  proto::send_packet(control_.native_handle(), proto::Writer(proto::Type::signal).u64(exec_id).u32(static_cast<uint32_t>(signal)).bytes());
}

void ProcessSandbox::read_output(std::shared_ptr<ExecState> st, Stream which) {
  auto& d = which == Stream::out ? *st->out : *st->err;
  auto& buf = which == Stream::out ? st->out_buf : st->err_buf;
  d.async_read_some(asio::buffer(buf), [this, self = shared_from_this(), st, which](boost::system::error_code ec, size_t n) {
    bool out = which == Stream::out;
    if (n > 0) {
      std::string& kept = out ? st->result.stdout_data : st->result.stderr_data;
      uint64_t cap = out ? st->max_out : st->max_err;
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, cap > kept.size() ? cap - kept.size() : 0));
      const char* data = out ? st->out_buf.data() : st->err_buf.data();
      if (take) {
        kept.append(data, take);
        if (st->on_output) st->on_output(which, std::string_view(data, take));
      }
      (out ? st->result.stdout_dropped : st->result.stderr_dropped) += n - take;
    }
    if (ec || st->finished) {
      (out ? st->out_eof : st->err_eof) = true;
      maybe_finish(st);
      return;
    }
    read_output(st, which);
  });
}

void ProcessSandbox::on_exited(const proto::ExitedMsg& m) {
  auto it = execs_.find(m.id);
  if (it == execs_.end()) return;
  auto st = it->second;
  st->exited = true;
  ExecResult& r = st->result;
  if (!m.started) {
    r.status = Status::fail(m.error);
    r.pids_limited = cgroup_.pids_limit_hits() > st->pids_base;
  } else {
    int ws = static_cast<int>(m.wait_status);
    if (WIFEXITED(ws)) r.exit_code = WEXITSTATUS(ws);
    if (WIFSIGNALED(ws)) r.signal = WTERMSIG(ws);
    r.timed_out = m.timed_out;
    r.cpu_ms = m.cpu_us / 1000.0;
    r.peak_memory_bytes = m.maxrss_kb * 1024;
    r.oom_killed = cgroup_.oom_kills() > st->oom_base;
    r.pids_limited = cgroup_.pids_limit_hits() > st->pids_base;
  }
  maybe_finish(st);
}

void ProcessSandbox::maybe_finish(const std::shared_ptr<ExecState>& st) {
  if (st->finished || !st->exited) return;
  if (st->out_eof && st->err_eof) return finish(st);
  if (st->grace) return;
  // Background processes may hold the pipes open forever: give buffered output a moment, then stop.
  st->grace = std::make_unique<asio::steady_timer>(strand_, kOutputGrace);
  st->grace->async_wait([this, self = shared_from_this(), st](boost::system::error_code) { finish(st); });
}

void ProcessSandbox::finish(const std::shared_ptr<ExecState>& st) {
  if (st->finished) return;
  st->finished = true;
  boost::system::error_code ignored;
  if (st->grace) st->grace->cancel();
  st->out->close(ignored);
  st->err->close(ignored);
  if (st->in) st->in->close(ignored);
  st->result.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - st->start).count();
  execs_.erase(st->id);
  if (st->cancel) st->cancel->bind({});
  arm_idle();
  auto done = std::move(st->done);
  done(std::move(st->result));
}

void ProcessSandbox::put_file(std::string path, std::string data, uint32_t mode, StatusHandler done) {
  on_strand([this, path = std::move(path), data = std::move(data), mode, done = std::move(done)] {
    if (state_ == State::dead) return done(Status::fail("sandbox is gone: " + dead_reason_));
    done(files_.put(path, data, mode));
  });
}

void ProcessSandbox::get_file(std::string path, uint64_t max_bytes, DataHandler done) {
  on_strand([this, path = std::move(path), max_bytes, done = std::move(done)] {
    if (state_ == State::dead) return done(Status::fail("sandbox is gone: " + dead_reason_), "");
    std::string out;
    Status s = files_.get(path, max_bytes, out);
    done(s, std::move(out));
  });
}

void ProcessSandbox::list(std::string path, ListHandler done) {
  on_strand([this, path = std::move(path), done = std::move(done)] {
    if (state_ == State::dead) return done(Status::fail("sandbox is gone: " + dead_reason_), {});
    std::vector<DirEntry> out;
    Status s = files_.list(path, out);
    done(s, std::move(out));
  });
}

void ProcessSandbox::put_tar(std::string dir, std::string tar, StatusHandler done) {
  on_strand([this, dir = std::move(dir), tar = std::move(tar), done = std::move(done)] {
    if (state_ == State::dead) return done(Status::fail("sandbox is gone: " + dead_reason_));
    done(unpack_tar(files_, dir, tar));
  });
}

void ProcessSandbox::get_tar(std::string dir, DataHandler done) {
  on_strand([this, dir = std::move(dir), done = std::move(done)] {
    if (state_ == State::dead) return done(Status::fail("sandbox is gone: " + dead_reason_), "");
    std::string out;
    Status s = pack_tar(files_, dir, out);
    done(s, std::move(out));
  });
}

void ProcessSandbox::stats(StatsHandler done) {
  on_strand([this, done = std::move(done)] {
    Stats s;
    s.alive = state_ == State::ready;
    if (s.alive) {
      s.memory_bytes = cgroup_.memory_bytes();
      s.memory_peak_bytes = cgroup_.memory_peak_bytes();
      s.pids = cgroup_.pids();
      s.cpu_ms = cgroup_.cpu_ms();
    }
    s.running_execs = static_cast<uint32_t>(execs_.size());
    s.from_pool = from_pool_;
    s.setup_ms = setup_ms_;
    done({}, s);
  });
}

void ProcessSandbox::kill(StatusHandler done) {
  on_strand([this, done = std::move(done)] {
    if (state_ == State::dead) return done(Status::fail("sandbox is not running: " + dead_reason_));
    int e = proto::send_packet(control_.native_handle(), proto::Writer(proto::Type::kill_all).bytes());
    done(e ? Status::fail(std::string("cannot reach the sandbox init: ") + std::strerror(e)) : Status{});
  });
}

void ProcessSandbox::destroy(StatusHandler done) {
  on_strand([this, done = std::move(done)]() mutable {
    if (!pidfd_.is_open()) return done({});
    if (dead_reason_.empty()) dead_reason_ = "the sandbox was destroyed";
    on_destroyed_.push_back(std::move(done));
    keep_alive_ = shared_from_this();
    begin_destroy();
  });
}

}  // namespace whalebox::sandbox
