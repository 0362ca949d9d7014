// Validation of a SandboxSpec: bad input gets a specific error, never a half-built sandbox.
#include "sandbox/process_backend.h"

namespace whalebox::sandbox {
namespace {

bool under(const std::string& path, const std::string& dir) {
  return path == dir || path.rfind(dir + "/", 0) == 0;
}

Status inside_path(const std::string& what, const std::string& p) {
  if (p.empty() || p[0] != '/') return Status::fail(what + " must be an absolute path: '" + p + "'");
  if (p == "/") return Status::fail(what + " cannot be /");
  if (p.find('\0') != std::string::npos || p.find("/../") != std::string::npos ||
      (p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0))
    return Status::fail(what + " must not contain '..': '" + p + "'");
  for (const char* reserved : {"/proc", "/dev", "/tmp"})
    if (under(p, reserved)) return Status::fail(what + " cannot be under " + std::string(reserved) + " (the sandbox mounts its own there): '" + p + "'");
  return {};
}

}  // namespace

Status validate_spec(const SandboxSpec& s) {
  if (s.workspace.empty()) return Status::fail("spec.workspace is empty: a sandbox needs a host workspace directory");
  if (auto st = inside_path("spec.workspace_mount", s.workspace_mount); !st.ok()) return st;
  for (const auto& p : s.ro_paths) {
    if (auto st = inside_path("read-only path", p.string()); !st.ok()) return st;
    if (under(s.workspace_mount, p.string()) || under(p.string(), s.workspace_mount))
      return Status::fail("read-only path " + p.string() + " overlaps the workspace mount " + s.workspace_mount);
  }
  for (const auto& e : s.env)
    if (e.find('=') == std::string::npos || e[0] == '=')
      return Status::fail("environment entry '" + e + "' is not KEY=value");
  const Limits& l = s.limits;
  if (l.memory_bytes < 8 * MiB) return Status::fail("memory limit " + std::to_string(l.memory_bytes) + " is below the 8 MiB minimum");
  if (l.pids < 2) return Status::fail("pids limit must be at least 2 (init and one command)");
  if (!(l.cpus >= 0) || l.cpus > 1024) return Status::fail("cpu fraction must be between 0 (unlimited) and 1024");
  if (l.tmpfs_bytes < 64 * KiB) return Status::fail("tmpfs size must be at least 64 KiB");
  if (l.open_files < 16) return Status::fail("open files limit must be at least 16");
  if (s.hostname.empty() || s.hostname.size() > 64) return Status::fail("hostname must be 1 to 64 characters");
  if (s.network.mode == NetworkPolicy::Mode::ports && s.network.ports.empty())
    return Status::fail("network policy 'ports' needs at least one port");
  if (s.network.ports.size() > 8)
    return Status::fail("network policy 'ports' forwards at most 8 ports, got " + std::to_string(s.network.ports.size()));
  for (size_t i = 0; i < s.network.ports.size(); ++i) {
    uint16_t p = s.network.ports[i];
    if (p == 0) return Status::fail("port 0 cannot be forwarded");
    for (size_t j = 0; j < i; ++j)
      if (s.network.ports[j] == p) return Status::fail("port " + std::to_string(p) + " is listed twice");
  }
  return {};
}

}  // namespace whalebox::sandbox
