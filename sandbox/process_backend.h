#pragma once
// The process tier: namespaces + seccomp + Landlock + cgroups with a resident init per sandbox.
#include "sandbox/sandbox.h"

namespace whalebox::sandbox {

// The init helper's path per ProcessBackendOptions' rules, "" when not found.
std::string find_init_binary(const ProcessBackendOptions& opts);

// seccomp.cc: the spec §4 deny list as a BPF program (struct sock_filter[]), built on first use.
Status seccomp_program(const std::string*& bpf);

// Checks a spec before anything is created; the error names the offending field.
Status validate_spec(const SandboxSpec& spec);

}  // namespace whalebox::sandbox
