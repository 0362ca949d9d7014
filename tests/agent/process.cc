#include "tests/agent/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace whalebox::agent::test {

namespace {

[[noreturn]] void exec_child(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

int status_of(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

}  // namespace

PtyProcess::PtyProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  struct winsize ws = {40, 120, 0, 0};
  pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
  if (pid_ < 0) throw std::runtime_error("forkpty failed");
  if (pid_ == 0) exec_child(argv, env);
}

PtyProcess::~PtyProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

bool PtyProcess::read_some(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char buf[4096];
  ssize_t n = read(fd_, buf, sizeof buf);
  if (n <= 0) return false;  // EIO once the child is gone
  out_.append(buf, n);
  return true;
}

bool PtyProcess::expect(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto at = out_.find(needle, matched_);
    if (at != std::string::npos) {
      matched_ = at + needle.size();
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_some(left)) return false;
  }
}

void PtyProcess::send(const std::string& text) {
  if (write(fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) throw std::runtime_error("pty write failed");
}

int PtyProcess::wait() {
  while (read_some(std::chrono::milliseconds(100))) {
  }
  int st = 0;
  waitpid(pid_, &st, 0);
  pid_ = -1;
  while (read_some(std::chrono::milliseconds(10))) {
  }
  return status_of(st);
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& stdout_file, const std::string& stderr_file,
            const std::vector<std::string>& env) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int out = open(stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    setsid();  // no controlling terminal: stderr is a plain file
    exec_child(argv, env);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return status_of(st);
}

std::optional<int> wait_exit_for(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return status_of(st);
    if (r < 0) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    usleep(20000);
  }
}

namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// /proc/PID/stat and /proc/PID/task/TID/stat: "pid (comm) state ppid ..."; comm may hold
// spaces and parentheses, so the fields are read after the last ')'.
struct Stat {
  std::string state = "?";
  pid_t ppid = -1;
};

Stat read_stat(const std::filesystem::path& file) {
  const std::string line = first_line(file);
  Stat s;
  if (size_t close = line.rfind(')'); close != std::string::npos) std::istringstream(line.substr(close + 1)) >> s.state >> s.ppid;
  return s;
}

}  // namespace

std::string describe_process_tree(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> procs;  // (pid, parent) of every process, read once
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") == std::string::npos) procs.emplace_back(std::stoi(name), read_stat(e.path() / "stat").ppid);
  }
  std::vector<pid_t> tree{root};
  for (size_t i = 0; i < tree.size(); ++i)  // breadth first
    for (const auto& [pid, parent] : procs)
      if (parent == tree[i]) tree.push_back(pid);
  std::ostringstream out;
  for (pid_t p : tree)
    for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(p) + "/task", ec))
      out << p << "/" << t.path().filename().string() << " " << first_line(t.path() / "comm")
          << " state=" << read_stat(t.path() / "stat").state << " wchan=" << first_line(t.path() / "wchan")
          << " syscall=" << first_line(t.path() / "syscall") << "\n";
  return out.str();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace whalebox::agent::test
