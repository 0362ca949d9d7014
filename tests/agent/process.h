#pragma once
// Child processes for front-end tests: the whalebox binary in a pseudo-terminal (as a person
// uses it) or with plain pipes/files.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace whalebox::agent::test {

class PtyProcess {
 public:
  // Runs argv in a new pseudo-terminal (stdin, stdout and stderr all on it), with extra env.
  PtyProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~PtyProcess();
  // Reads until `needle` appears after the previous match; false on timeout or end of output.
  bool expect(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void send(const std::string& text);
  int wait();  // exit status (128+signal when killed)
  const std::string& output() const { return out_; }

 private:
  bool read_some(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
  size_t matched_ = 0;
};

// Starts argv with stdout and stderr to files and stdin from /dev/null; returns the pid.
pid_t spawn(const std::vector<std::string>& argv, const std::string& stdout_file, const std::string& stderr_file,
            const std::vector<std::string>& env = {});
int wait_exit(pid_t pid);  // exit status (128+signal when killed)
// Waits at most `limit`; nullopt when the process still runs.
std::optional<int> wait_exit_for(pid_t pid, std::chrono::milliseconds limit);
// One line per thread of pid and of every descendant: pid/tid, name, state, kernel wait channel
// and current system call (what a hung process is blocked in, for a test's failure message).
std::string describe_process_tree(pid_t pid);

std::string slurp(const std::string& path);

}  // namespace whalebox::agent::test
