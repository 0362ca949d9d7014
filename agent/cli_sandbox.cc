// `whalebox sandbox run|probe`: one command in a fresh process-tier sandbox, or the host's
// capability report, each printed as one JSON object.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "agent/cli.h"
#include "sandbox/sync.h"

namespace whalebox::agent {
namespace {

namespace sb = whalebox::sandbox;

// "256M", "1G", "512K", "4096": bytes. Throws CLI::ValidationError on anything else.
uint64_t parse_size(const std::string& text, const std::string& flag) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw CLI::ValidationError(flag, "'" + text + "' is not a size (e.g. 256M, 1G, 4096)");
  }
  std::string unit = text.substr(used);
  uint64_t scale = unit.empty() || unit == "B" ? 1
                   : unit == "K" || unit == "KiB" || unit == "k" ? sb::KiB
                   : unit == "M" || unit == "MiB" || unit == "m" ? sb::MiB
                   : unit == "G" || unit == "GiB" || unit == "g" ? sb::GiB
                                                                 : 0;
  if (scale == 0 || value < 0) throw CLI::ValidationError(flag, "'" + text + "' is not a size (e.g. 256M, 1G, 4096)");
  return static_cast<uint64_t>(value * static_cast<double>(scale));
}

sb::NetworkPolicy parse_net(const std::string& text) {
  sb::NetworkPolicy p;
  if (text == "none") return p;
  if (text.rfind("ports:", 0) != 0) throw CLI::ValidationError("--net", "expected none or ports:PORT[,PORT...]");
  p.mode = sb::NetworkPolicy::Mode::ports;
  std::string list = text.substr(6);
  size_t at = 0;
  while (at <= list.size()) {
    size_t end = list.find(',', at);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(at, end - at);
    char* stop = nullptr;
    long port = std::strtol(item.c_str(), &stop, 10);
    if (item.empty() || *stop || port < 1 || port > 65535)
      throw CLI::ValidationError("--net", "'" + item + "' is not a port number");
    p.ports.push_back(static_cast<uint16_t>(port));
    at = end + 1;
  }
  return p;
}

struct RunOptions {
  std::string memory = "256M", max_output = "1M", net = "none", workspace;
  uint32_t pids = 128;
  double cpu = 1.0, timeout = 10;
  std::vector<std::string> ro, command;
};

nlohmann::json result_json(const sb::ExecResult& r) {
  nlohmann::json j;
  j["exit_code"] = r.signal == 0 && r.status.ok() ? nlohmann::json(r.exit_code) : nlohmann::json(nullptr);
  j["signal"] = r.signal ? nlohmann::json(r.signal) : nlohmann::json(nullptr);
  j["timed_out"] = r.timed_out;
  j["oom_killed"] = r.oom_killed;
  j["pids_limited"] = r.pids_limited;
  j["truncated"] = r.truncated();
  j["stdout_dropped"] = r.stdout_dropped;
  j["stderr_dropped"] = r.stderr_dropped;
  j["stdout"] = r.stdout_data;
  j["stderr"] = r.stderr_data;
  j["wall_ms"] = r.wall_ms;
  j["cpu_ms"] = r.cpu_ms;
  j["peak_memory_bytes"] = r.peak_memory_bytes;
  if (!r.status.ok()) j["error"] = r.status.error;
  return j;
}

int run(const RunOptions& o) {
  sb::SandboxSpec spec;
  spec.limits.memory_bytes = parse_size(o.memory, "--memory");
  spec.limits.pids = o.pids;
  spec.limits.cpus = o.cpu;
  spec.network = parse_net(o.net);
  for (const auto& p : o.ro) spec.ro_paths.emplace_back(p);
  bool temp_workspace = o.workspace.empty();
  if (temp_workspace) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "whalebox-ws-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::cout << nlohmann::json{{"error", "cannot create a temporary workspace"}}.dump() << "\n";
      return 1;
    }
    spec.workspace = tmpl;
  } else {
    spec.workspace = o.workspace;
  }
  sb::ExecRequest req;
  req.argv = o.command;
  req.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout * 1000));
  req.max_stdout = req.max_stderr = parse_size(o.max_output, "--max-output");

  nlohmann::json out;
  int code = 0;
  try {
    sb::SyncRuntime runtime;
    auto box = runtime.create(spec);
    out = result_json(box->exec(req));
    if (out.contains("error")) code = 1;
    if (auto s = box->destroy(); !s.ok()) out["cleanup_error"] = s.error, code = 1;
  } catch (const std::exception& e) {
    out = {{"error", e.what()}};
    code = 1;
  }
  if (temp_workspace) {
    std::error_code ec;
    std::filesystem::remove_all(spec.workspace, ec);
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return code;
}

}  // namespace

void add_sandbox_commands(CLI::App& app, CliContext& ctx) {
  auto* group = app.add_subcommand("sandbox", "Run commands in the process sandbox; probe the host");
  group->require_subcommand(1);

  auto o = std::make_shared<RunOptions>();
  auto* run_cmd = group->add_subcommand("run", "Run one command in a fresh sandbox; print the result as JSON");
  run_cmd->add_option("--memory", o->memory, "Memory limit (e.g. 256M, 1G)")->capture_default_str();
  run_cmd->add_option("--pids", o->pids, "Process/thread limit")->capture_default_str()->check(CLI::Range(2u, 1u << 22));
  run_cmd->add_option("--cpu", o->cpu, "CPU quota in cores (0 = unlimited)")->capture_default_str()->check(CLI::Range(0.0, 1024.0));
  run_cmd->add_option("--timeout", o->timeout, "Wall-clock timeout in seconds (0 = none)")->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  run_cmd->add_option("--net", o->net, "Network: none (loopback only) or ports:PORT[,PORT...]")->capture_default_str();
  run_cmd->add_option("--workspace", o->workspace, "Host dir mounted read-write at /workspace (default: a temporary dir)");
  run_cmd->add_option("--ro", o->ro, "Extra host path exposed read-only (repeatable)");
  run_cmd->add_option("--max-output", o->max_output, "Cap on captured stdout and on stderr each")->capture_default_str();
  run_cmd->add_option("command", o->command, "The command and its arguments (after --)")->required();
  run_cmd->callback([o, &ctx] { ctx.exit_code = run(*o); });

  auto* probe_cmd = group->add_subcommand("probe", "Print which sandbox mechanisms this host supports, as JSON");
  probe_cmd->callback([&ctx] {
    auto report = sb::probe();
    std::cout << report.to_json() << "\n";
    ctx.exit_code = report.process_backend_usable() ? 0 : 1;
  });
}

}  // namespace whalebox::agent
