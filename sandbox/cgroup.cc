#include "sandbox/cgroup.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "sandbox/sysfile.h"

namespace whalebox::sandbox {
namespace {

const char* const kLimited[] = {"memory", "pids", "cpu"};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

struct Mount {
  std::string root, point, fstype;
  std::vector<std::string> options;
};

std::vector<Mount> cgroup_mounts() {
  std::vector<Mount> out;
  std::istringstream in(read_small_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto left = split(line.substr(0, dash), ' ');
    auto right = split(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    if (right[0] != "cgroup" && right[0] != "cgroup2") continue;
    out.push_back({left[3], left[4], right[0], split(right[2], ',')});
  }
  return out;
}

// The runtime's own cgroup inside a mount whose root is `root`.
std::string own_dir(const Mount& m, std::string own) {
  if (m.root != "/" && own.rfind(m.root, 0) == 0) own = own.substr(m.root.size());
  if (own == "/") own.clear();
  return m.point + own;
}

// Start time of a process (field 22 of /proc/<pid>/stat), "" when it does not exist.
std::string start_time(const std::string& pid) {
  std::string stat = read_small_file("/proc/" + pid + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return "";
  auto fields = split(stat.substr(close + 2), ' ');
  return fields.size() > 19 ? fields[19] : "";
}

Status mkdir_p(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return {};
  return Status::fail("cannot create cgroup " + dir + ": " + std::strerror(errno));
}

void kill_procs(const std::string& dir) {
  std::istringstream in(read_small_file(dir + "/cgroup.procs"));
  std::string pid;
  while (in >> pid) ::kill(std::stoi(pid), SIGKILL);
}

// rmdir, retrying while the last processes finish exiting.
bool remove_dir(const std::string& dir, bool v2_kill) {
  for (int i = 0; i < 400; ++i) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    if (i % 50 == 0) {
      if (v2_kill) write_small_file(dir + "/cgroup.kill", "1");
      else kill_procs(dir);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace

CgroupTree CgroupTree::discover() {
  CgroupTree t;
  std::map<std::string, std::string> own;  // controller ("" = v2) -> own path
  std::istringstream in(read_small_file("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && ctrls.empty()) own[""] = path;
    for (const auto& c : split(ctrls, ',')) own[c] = path;
  }
  std::string v2_own;
  for (const auto& m : cgroup_mounts()) {
    if (m.fstype == "cgroup2") {
      if (!own.count("") || !v2_own.empty()) continue;
      v2_own = own_dir(m, own[""]);
      t.v2_controllers = split(read_small_file(v2_own + "/cgroup.controllers"), ' ');
      for (auto& c : t.v2_controllers) c.erase(std::remove(c.begin(), c.end(), '\n'), c.end());
      continue;
    }
    for (const auto& opt : m.options) {
      if (!own.count(opt) || opt.rfind("name=", 0) == 0) continue;
      if (!contains(t.v1_mounted, opt)) t.v1_mounted.push_back(opt);
      if (contains({std::begin(kLimited), std::end(kLimited)}, opt) && !t.v1(opt))
        t.dirs.push_back({opt, own_dir(m, own[opt]) + "/whalebox"});
    }
  }
  bool v2_limits = true;
  for (const char* c : kLimited) v2_limits = v2_limits && contains(t.v2_controllers, c);
  if (!v2_own.empty()) {
    t.v2_kill = true;  // checked below on the base dir once it exists
    t.dirs.insert(t.dirs.begin(), {"", v2_own + "/whalebox"});
  }
  if (!v2_own.empty() && v2_limits) {
    t.mode = "v2";
    t.dirs.resize(1);  // v2 does everything; v1 hierarchies (if any) hold no controllers we need
  } else if (!v2_own.empty() && !t.dirs.empty() && t.dirs.size() > 1) {
    t.mode = "hybrid";
  } else if (v2_own.empty() && !t.dirs.empty()) {
    t.mode = "v1";
  } else {
    t.mode = v2_own.empty() ? "none" : "v2";
  }
  std::vector<std::string> missing;
  for (const char* c : kLimited)
    if (!(t.mode == "v2" ? contains(t.v2_controllers, c) : t.v1(c) != nullptr)) missing.push_back(c);
  if (!missing.empty()) {
    std::string m;
    for (const auto& c : missing) m += (m.empty() ? "" : ",") + c;
    t.problem = "cgroup controllers unavailable to this process: " + m;
  }
  // Probe creating the base dirs now: a read-only cgroupfs (common in containers) shows up here.
  for (const auto& d : t.dirs) {
    if (auto s = mkdir_p(d.base); !s.ok() && t.problem.empty()) t.problem = s.error;
  }
  if (t.mode == "v2" && t.problem.empty()) {
    // Pure v2: the controllers must be enabled on the path down to our sandboxes.
    std::string parent = t.dirs[0].base.substr(0, t.dirs[0].base.rfind('/'));
    for (const std::string& dir : {parent, t.dirs[0].base}) {
      if (int e = write_small_file(dir + "/cgroup.subtree_control", "+memory +pids +cpu"); e)
        t.problem = "cannot enable memory,pids,cpu controllers in " + dir +
                    " (cgroup v2 needs a delegated cgroup whose processes live in a leaf): " +
                    std::strerror(e);
    }
  }
  if (const Dir* v2 = t.v2()) t.v2_kill = ::access((v2->base + "/cgroup.kill").c_str(), F_OK) == 0;
  return t;
}

const CgroupTree::Dir* CgroupTree::v2() const {
  return !dirs.empty() && dirs[0].controller.empty() ? &dirs[0] : nullptr;
}

const CgroupTree::Dir* CgroupTree::v1(const std::string& controller) const {
  for (const auto& d : dirs)
    if (d.controller == controller) return &d;
  return nullptr;
}

Cgroup::~Cgroup() {
  if (v2_fd_ >= 0) ::close(v2_fd_);
}

Cgroup::Cgroup(Cgroup&& o) noexcept { *this = std::move(o); }

Cgroup& Cgroup::operator=(Cgroup&& o) noexcept {
  std::swap(paths_, o.paths_);
  std::swap(v2_fd_, o.v2_fd_);
  std::swap(v2_kill_, o.v2_kill_);
  std::swap(v2_mode_, o.v2_mode_);
  return *this;
}

std::string Cgroup::path(const std::string& controller) const {
  for (const auto& [c, p] : paths_)
    if (c == controller) return p;
  // Pure v2 keeps every controller in the single v2 dir.
  for (const auto& [c, p] : paths_)
    if (c.empty()) return paths_.size() == 1 ? p : "";
  return "";
}

Status Cgroup::create(const CgroupTree& tree, const std::string& name, const Limits& limits) {
  if (!tree.problem.empty()) return Status::fail(tree.problem);
  v2_kill_ = tree.v2_kill;
  for (const auto& d : tree.dirs) {
    std::string dir = d.base + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) {
      Status s = Status::fail("cannot create cgroup " + dir + ": " + std::strerror(errno));
      remove();
      return s;
    }
    paths_.emplace_back(d.controller, dir);
  }
  v2_mode_ = tree.mode == "v2";
  if (Status s = set_limits(limits); !s.ok()) {
    remove();
    return s;
  }
  if (!path("").empty()) {
    v2_fd_ = ::open(path("").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (v2_fd_ < 0) {
      Status s = Status::fail("cannot open cgroup " + path("") + ": " + std::strerror(errno));
      remove();
      return s;
    }
  }
  return {};
}

Status Cgroup::set_limits(const Limits& limits) {
  auto set = [&](const std::string& controller, const std::string& file, const std::string& value,
                 bool optional = false) -> Status {
    std::string dir = path(controller);
    if (dir.empty()) return Status::fail("no cgroup for controller " + controller);
    int e = write_small_file(dir + "/" + file, value);
    if (e == 0 || (optional && e == ENOENT)) return {};
    return Status::fail("cannot set " + dir + "/" + file + " = " + value + ": " + std::strerror(e));
  };
  bool v2 = v2_mode_;
  std::vector<Status> results;
  std::string mem = std::to_string(limits.memory_bytes);
  if (v2) {
    results.push_back(set("memory", "memory.max", mem));
    results.push_back(set("memory", "memory.swap.max", "0", true));
    results.push_back(set("pids", "pids.max", std::to_string(limits.pids)));
    std::string quota = limits.cpus > 0 ? std::to_string(static_cast<long>(limits.cpus * 100000)) : "max";
    results.push_back(set("cpu", "cpu.max", quota + " 100000"));
  } else {
    // memsw (memory+swap) may never be below memory: raise it first when growing, after when shrinking.
    Status m = set("memory", "memory.limit_in_bytes", mem);
    results.push_back(set("memory", "memory.memsw.limit_in_bytes", mem, true));
    if (!m.ok()) m = set("memory", "memory.limit_in_bytes", mem);
    results.push_back(m);
    results.push_back(set("pids", "pids.max", std::to_string(limits.pids)));
    results.push_back(set("cpu", "cpu.cfs_period_us", "100000"));
    results.push_back(set("cpu", "cpu.cfs_quota_us", limits.cpus > 0 ? std::to_string(static_cast<long>(limits.cpus * 100000)) : "-1"));
  }
  for (const auto& s : results)
    if (!s.ok()) return s;
  return {};
}

Status Cgroup::attach(int pid) const {
  for (const auto& [c, p] : paths_) {
    if (c.empty()) continue;
    if (int e = write_small_file(p + "/cgroup.procs", std::to_string(pid)); e)
      return Status::fail("cannot move init into " + p + ": " + std::strerror(e));
  }
  return {};
}

uint64_t Cgroup::oom_kills() const {
  std::string dir = path("memory");
  if (dir.empty()) return 0;
  bool v2 = dir == path("");
  return keyed_value(read_small_file(dir + (v2 ? "/memory.events" : "/memory.oom_control")), "oom_kill");
}

uint64_t Cgroup::pids_limit_hits() const {
  std::string dir = path("pids");
  return dir.empty() ? 0 : keyed_value(read_small_file(dir + "/pids.events"), "max");
}

uint64_t Cgroup::memory_bytes() const {
  std::string dir = path("memory");
  if (dir.empty()) return 0;
  bool v2 = dir == path("");
  return std::strtoull(read_small_file(dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes")).c_str(), nullptr, 10);
}

uint64_t Cgroup::memory_peak_bytes() const {
  std::string dir = path("memory");
  if (dir.empty()) return 0;
  bool v2 = dir == path("");
  return std::strtoull(read_small_file(dir + (v2 ? "/memory.peak" : "/memory.max_usage_in_bytes")).c_str(), nullptr, 10);
}

uint32_t Cgroup::pids() const {
  std::string dir = path("pids");
  return dir.empty() ? 0 : static_cast<uint32_t>(std::strtoul(read_small_file(dir + "/pids.current").c_str(), nullptr, 10));
}

double Cgroup::cpu_ms() const {
  for (const auto& [c, p] : paths_)
    if (c.empty()) return keyed_value(read_small_file(p + "/cpu.stat"), "usage_usec") / 1000.0;
  return 0;
}

void Cgroup::kill_all() const {
  // Every process of the sandbox is in the v2 cgroup too (born there by CLONE_INTO_CGROUP, and
  // children inherit it): where cgroup.kill exists it alone is enough.
  for (const auto& [c, p] : paths_)
    if (c.empty() && v2_kill_ && write_small_file(p + "/cgroup.kill", "1") == 0) return;
  for (const auto& [c, p] : paths_) kill_procs(p);
}

Status Cgroup::remove() {
  std::string failed;
  for (const auto& [c, p] : paths_)
    if (!remove_dir(p, c.empty() && v2_kill_)) failed += (failed.empty() ? "" : ", ") + p;
  paths_.clear();
  if (v2_fd_ >= 0) ::close(v2_fd_);
  v2_fd_ = -1;
  if (!failed.empty()) return Status::fail("cannot remove cgroup " + failed + ": still busy");
  return {};
}

std::string cgroup_name(uint64_t seq) {
  std::string pid = std::to_string(::getpid());
  return pid + "." + start_time(pid) + "." + std::to_string(seq);
}

int reap_stale_cgroups(const CgroupTree& tree) {
  int reaped = 0;
  for (const auto& d : tree.dirs) {
    DIR* dir = ::opendir(d.base.c_str());
    if (!dir) continue;
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(dir)) {
      if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
      auto parts = split(e->d_name, '.');
      if (parts.size() != 3) continue;
      if (start_time(parts[0]) == parts[1]) continue;  // its runtime is alive
      stale.push_back(d.base + "/" + e->d_name);
    }
    ::closedir(dir);
    for (const auto& s : stale) {
      bool v2 = d.controller.empty() && tree.v2_kill;
      if (v2) write_small_file(s + "/cgroup.kill", "1");
      else kill_procs(s);
      if (remove_dir(s, v2)) ++reaped;
    }
  }
  return reaped;
}

}  // namespace whalebox::sandbox
