// `whalebox bench sandbox`: the process sandbox against bubblewrap, measured in the same run.
//   (a) create -> first command result -> destroy      vs one `bwrap --unshare-all ... true`
//   (b) exec of `true` in a live sandbox                vs one `bwrap ... true`
//   (c) execs/s across 16 live sandboxes                vs bwrap runs/s at 16 in flight
//   (d) host memory per idle sandbox, N alive at once   (MemAvailable delta / N)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <iostream>
#include <mutex>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>

#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "sandbox/sync.h"

extern char** environ;

namespace whalebox::bench {
namespace {

namespace sb = whalebox::sandbox;
using Clock = std::chrono::steady_clock;

constexpr auto kSettle = std::chrono::milliseconds(30);

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Percentiles {
  double p50 = 0, p99 = 0;
};
Percentiles percentiles(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return {at(0.50), at(0.99)};
}
nlohmann::json to_json(const Percentiles& p) { return {{"p50_ms", p.p50}, {"p99_ms", p.p99}}; }

const std::vector<std::string> kBwrap = {"bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
                                         "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                                         "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
                                         "--tmpfs", "/tmp", "true"};

// One bwrap run, start to reaped; -1 when it could not run or failed.
double bwrap_once() {
  std::vector<char*> argv;
  for (const auto& a : kBwrap) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto t = Clock::now();
  pid_t pid;
  if (posix_spawnp(&pid, "bwrap", nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms_since(t) : -1;
}

uint64_t mem_available_kib() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  char line[256];
  uint64_t v = 0;
  while (f && std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %lu kB", &v) == 1) break;
  if (f) std::fclose(f);
  return v;
}

// Memory charged to this process's memory cgroup and everything below it (our sandboxes' cgroups
// nest under it): immune to what other processes on the machine do, unlike MemAvailable.
uint64_t own_memcg_bytes() {
  FILE* f = std::fopen("/proc/self/cgroup", "r");
  char line[512];
  std::string v1, v2;
  while (f && std::fgets(line, sizeof line, f)) {
    std::string l(line);
    l.erase(l.find_last_not_of("\n") + 1);
    auto a = l.find(':'), b = l.find(':', a + 1);
    std::string ctrls = l.substr(a + 1, b - a - 1), path = l.substr(b + 1);
    if (("," + ctrls + ",").find(",memory,") != std::string::npos) v1 = path;
    if (l.rfind("0::", 0) == 0) v2 = path;
  }
  if (f) std::fclose(f);
  for (const std::string& file : {"/sys/fs/cgroup/memory" + v1 + "/memory.usage_in_bytes", "/sys/fs/cgroup" + v2 + "/memory.current"}) {
    FILE* m = std::fopen(file.c_str(), "r");
    unsigned long long v = 0;
    bool ok = m && std::fscanf(m, "%llu", &v) == 1;
    if (m) std::fclose(m);
    if (ok) return v;
  }
  return 0;
}

struct Args {
  int cycles = 50, execs = 300, seconds = 3, alive = 1000;
};

Args parse(const std::vector<std::string>& args) {
  Args a;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    int v = std::atoi(args[i + 1].c_str());
    if (v <= 0) throw std::runtime_error("bench sandbox: " + args[i] + " needs a positive number");
    if (args[i] == "--cycles") a.cycles = v;
    else if (args[i] == "--execs") a.execs = v;
    else if (args[i] == "--seconds") a.seconds = v;
    else if (args[i] == "--alive") a.alive = v;
    else throw std::runtime_error("bench sandbox: unknown option " + args[i] + " (--cycles --execs --seconds --alive)");
  }
  if (args.size() % 2) throw std::runtime_error("bench sandbox: option " + args.back() + " needs a value");
  return a;
}

sb::SandboxSpec spec_in(const std::string& root, int i) {
  sb::SandboxSpec s;
  s.workspace = root + "/ws" + std::to_string(i);
  return s;
}

sb::ExecRequest true_request() {
  sb::ExecRequest r;
  r.argv = {"true"};
  return r;
}

// (c): `total` sandboxes, each keeping one exec in flight, for `seconds`.
double execs_per_second(std::vector<std::unique_ptr<sb::SyncSandbox>>& boxes, int seconds) {
  std::mutex m;
  std::condition_variable cv;
  uint64_t done = 0;
  int in_flight = 0;
  bool stop = false;
  std::function<void(size_t)> launch = [&](size_t i) {
    boxes[i]->async().exec(true_request(), {}, [&, i](sb::ExecResult r) {
      std::lock_guard<std::mutex> lock(m);
      if (r.status.ok()) ++done;
      if (stop) {
        --in_flight;
        cv.notify_all();
        return;
      }
      launch(i);
    });
  };
  auto t = Clock::now();
  {
    std::lock_guard<std::mutex> lock(m);
    for (size_t i = 0; i < boxes.size(); ++i, ++in_flight) launch(i);
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  std::unique_lock<std::mutex> lock(m);
  stop = true;
  uint64_t counted = done;
  double secs = ms_since(t) / 1000;
  cv.wait(lock, [&] { return in_flight == 0; });
  return static_cast<double>(counted) / secs;
}

double bwrap_runs_per_second(int parallel, int seconds) {
  std::atomic<uint64_t> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  auto t = Clock::now();
  for (int i = 0; i < parallel; ++i)
    workers.emplace_back([&] {
      while (!stop)
        if (bwrap_once() >= 0) ++done;
    });
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  uint64_t counted = done;
  double secs = ms_since(t) / 1000;
  stop = true;
  for (auto& w : workers) w.join();
  return static_cast<double>(counted) / secs;
}

}  // namespace

int run_sandbox(const std::vector<std::string>& raw) {
  Args args;
  try {
    args = parse(raw);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    std::cout << nlohmann::json{{"benchmark", "sandbox"}, {"error", e.what()}}.dump() << "\n";
    return 2;
  }
  auto report = sb::probe();
  if (!report.process_backend_usable()) {
    std::string why;
    for (const auto& p : report.problems) why += (why.empty() ? "" : "; ") + p;
    std::cout << nlohmann::json{{"benchmark", "sandbox"}, {"error", "process sandbox unavailable: " + why}}.dump() << "\n";
    return 1;
  }
  if (bwrap_once() < 0) {
    std::cout << nlohmann::json{{"benchmark", "sandbox"}, {"error", "bwrap (bubblewrap) is missing or cannot run here"}}.dump() << "\n";
    return 1;
  }
  // Each live sandbox holds a few fds (pidfd, control socket, workspace).
  rlimit nofile;
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);

  char tmpl[] = "/tmp/whalebox-bench-sandbox-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string root = tmpl;
  nlohmann::json out = {{"benchmark", "sandbox"}, {"peer", "bwrap " + [] {
                                                     std::string s;
                                                     for (size_t i = 1; i < kBwrap.size(); ++i) s += (i > 1 ? " " : "") + kBwrap[i];
                                                     return s;
                                                   }()}};
  int rc = 0;
  try {
    sb::SyncRuntime rt;
    // (a) create -> first result -> destroy, interleaved with bwrap runs so both see the same
    // machine. Twice: as a caller sees it (the default backend: a pool hit when a pre-built sandbox
    // is ready, which create() still finishes with the requested workspace, limits, hostname and
    // ports) and cold (no pool: clone3, id maps, cgroup and every mount inside the measured time).
    std::vector<double> theirs;
    auto cycles = [&](sb::SyncRuntime& runtime, const char* label) {
      std::cerr << "sandbox bench: (a) " << args.cycles << " create/exec/destroy cycles (" << label << ") and bwrap runs\n";
      std::vector<double> total, create_ms, exec_ms, destroy_ms;
      std::map<std::string, std::vector<double>> steps;
      int pool_hits = 0;
      for (int i = 0; i < args.cycles; ++i) {
        // Each measurement, ours and bwrap's, starts after a pause in which the previous one's
        // background work settles (the pool's refill, namespace teardown): the steady state of a
        // caller that creates sandboxes one at a time, as agent sessions do.
        std::this_thread::sleep_for(kSettle);
        // Through the asynchronous interface, each step started from the previous one's handler
        // on the runtime's event loop (as the agent does): no caller-thread hand-offs measured.
        struct Cycle {
          Clock::time_point t0, created, executed, destroyed;
          sb::ExecResult result;
          sb::Stats stats;
          sb::Status status;
        } c;
        std::promise<void> finished;
        c.t0 = Clock::now();
        runtime.backend().create(spec_in(root, 0), [&](sb::Status s, std::shared_ptr<sb::Sandbox> box) {
          c.created = Clock::now();
          if (!s.ok()) {
            c.status = s;
            return finished.set_value();
          }
          box->exec(true_request(), {}, [&, box](sb::ExecResult r) {
            c.executed = Clock::now();
            c.result = std::move(r);
            box->stats([&, box](sb::Status, sb::Stats st) {  // not timed: the setup breakdown
              c.stats = std::move(st);
              auto t = Clock::now();
              box->destroy([&, box, t](sb::Status s) {
                c.destroyed = Clock::now();
                c.status = s;
                destroy_ms.push_back(std::chrono::duration<double, std::milli>(c.destroyed - t).count());
                finished.set_value();
              });
            });
          });
        });
        finished.get_future().wait();
        if (!c.status.ok()) throw std::runtime_error("create/destroy failed: " + c.status.error);
        if (!c.result.status.ok() || c.result.exit_code != 0) throw std::runtime_error("exec failed: " + c.result.status.error);
        auto ms = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
        create_ms.push_back(ms(c.t0, c.created));
        exec_ms.push_back(ms(c.created, c.executed));
        total.push_back(create_ms.back() + exec_ms.back() + destroy_ms.back());
        pool_hits += c.stats.from_pool;
        for (const auto& [name, ms] : c.stats.setup_ms) steps[name].push_back(ms);
        std::this_thread::sleep_for(kSettle);
        theirs.push_back(bwrap_once());
      }
      nlohmann::json breakdown = nlohmann::json::object();
      for (auto& [name, v] : steps) breakdown[name] = percentiles(v).p50;
      auto p = percentiles(total);
      return nlohmann::json{{"whalebox", to_json(p)}, {"pool_hits", pool_hits}, {"cycles", args.cycles},
                            {"create_p50_ms", percentiles(create_ms).p50}, {"first_exec_p50_ms", percentiles(exec_ms).p50},
                            {"destroy_p50_ms", percentiles(destroy_ms).p50}, {"setup_steps_p50_ms", breakdown}};
    };
    nlohmann::json pooled = cycles(rt, "pool");
    nlohmann::json cold;
    {
      sb::ProcessBackendOptions no_pool;
      no_pool.pool_size = 0;
      sb::SyncRuntime cold_rt(no_pool);
      cold = cycles(cold_rt, "cold, no pool");
    }
    auto pb = percentiles(theirs);
    double pooled_p50 = pooled["whalebox"]["p50_ms"], cold_p50 = cold["whalebox"]["p50_ms"];
    pooled["ratio_p50"] = pooled_p50 / pb.p50;
    cold["ratio_p50"] = cold_p50 / pb.p50;
    out["a_create_exec_destroy"] = {{"measures", "create -> result of `true` -> destroy returned, async API, 30 ms pause "
                                                 "before each run (ours and bwrap's); pool = default backend (a sandbox "
                                                 "built ahead, attached to the requested workspace and limits; its refill "
                                                 "runs in the pause), cold = pool disabled"},
                                    {"bwrap", to_json(pb)}, {"pool", pooled}, {"cold", cold},
                                    {"ratio_p50", pooled_p50 / pb.p50}, {"target_ratio", 0.6}};

    // (b) exec of true in a live sandbox
    std::cerr << "sandbox bench: (b) " << args.execs << " execs of true in a live sandbox\n";
    {
      auto box = rt.create(spec_in(root, 0));
      box->exec(true_request());
      std::vector<double> execs;
      for (int i = 0; i < args.execs; ++i) {
        auto t = Clock::now();
        auto r = box->exec(true_request());
        if (!r.status.ok()) throw std::runtime_error("exec failed: " + r.status.error);
        execs.push_back(ms_since(t));
      }
      auto pe = percentiles(execs);
      out["b_exec_in_live_sandbox"] = {{"whalebox", to_json(pe)}, {"bwrap", to_json(pb)}, {"ratio_p50", pe.p50 / pb.p50},
                                       {"target_ratio", 0.2}};
    }

    // (c) throughput across 16 live sandboxes
    std::cerr << "sandbox bench: (c) execs/s across 16 live sandboxes, " << args.seconds << " s each side\n";
    {
      std::vector<std::unique_ptr<sb::SyncSandbox>> boxes;
      for (int i = 0; i < 16; ++i) boxes.push_back(rt.create(spec_in(root, i)));
      double ours_rate = execs_per_second(boxes, args.seconds);
      for (auto& b : boxes) b->destroy();
      double bwrap_rate = bwrap_runs_per_second(16, args.seconds);
      out["c_throughput_16"] = {{"whalebox_execs_per_s", ours_rate}, {"bwrap_runs_per_s", bwrap_rate},
                                {"ratio", ours_rate / bwrap_rate}};
    }

    // (d) memory per idle sandbox with N alive
    std::cerr << "sandbox bench: (d) " << args.alive << " idle sandboxes alive at once\n";
    {
      uint64_t before = mem_available_kib();
      uint64_t memcg_before = own_memcg_bytes();
      std::vector<std::unique_ptr<sb::SyncSandbox>> boxes;
      auto t = Clock::now();
      for (int i = 0; i < args.alive; ++i) {
        boxes.push_back(rt.create(spec_in(root, i)));
        if ((i + 1) % 100 == 0) std::cerr << "  " << i + 1 << " alive\n";
      }
      double create_s = ms_since(t) / 1000;
      std::this_thread::sleep_for(std::chrono::seconds(1));
      uint64_t after = mem_available_kib();
      uint64_t memcg_after = own_memcg_bytes();
      // Every one of them still answers.
      int answering = 0;
      for (auto& b : boxes) answering += b->exec(true_request()).exit_code == 0;
      double per_box_kib = (static_cast<double>(before) - static_cast<double>(after)) / args.alive;
      t = Clock::now();
      for (auto& b : boxes) b->destroy();
      double destroy_s = ms_since(t) / 1000;
      double memcg_kib = (static_cast<double>(memcg_after) - static_cast<double>(memcg_before)) / 1024 / args.alive;
      out["d_idle_memory"] = {{"alive", args.alive}, {"answering", answering}, {"kib_per_sandbox_memcg", memcg_kib},
                              {"kib_per_sandbox_memavailable", per_box_kib},
                              {"target_kib", 1024}, {"create_all_s", create_s}, {"destroy_all_s", destroy_s}};
    }
  } catch (const std::exception& e) {
    out["error"] = e.what();
    rc = 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  std::cout << out.dump() << "\n";
  return rc;
}

}  // namespace whalebox::bench
