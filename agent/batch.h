#pragma once
// `whalebox batch`: many tasks, each in its own sandbox, N at a time on one event loop. Results
// and trajectories are appended durably as each task ends (jsonl_log.h), so a run killed at any
// moment and started again finishes the remaining tasks without duplicating or losing a line.
#include <string>

#include "agent/config.h"

namespace whalebox::agent {

struct BatchOptions {
  std::string tasks_file;     // JSONL: {"id", "prompt", "workspace"?, "max_turns"?}
  std::string out;            // results JSONL
  std::string trajectories;   // trajectories JSONL (default: <out>.trajectories.jsonl)
  std::string workspaces;     // parent of per-task workspaces (default: <out>.workspaces)
  int concurrency = 4;
  AgentConfig cfg;
};

// Returns the process exit code; throws std::runtime_error / std::invalid_argument on bad input.
int run_batch(const BatchOptions& o);

}  // namespace whalebox::agent
