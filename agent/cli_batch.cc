// `whalebox batch tasks.jsonl --out results.jsonl`: see agent/batch.h.
#include <iostream>

#include "agent/batch.h"
#include "agent/cli.h"
#include "agent/cli_options.h"

namespace whalebox::agent {

void add_batch_commands(CLI::App& app, CliContext& ctx) {
  struct Options {
    BatchOptions batch;
    CommonFlags common;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("batch", "Run many tasks (JSONL), each in its own sandbox; resumable");
  cmd->add_option("tasks", o->batch.tasks_file, "JSONL file, one task per line: {\"id\", \"prompt\", \"workspace\"?, \"max_turns\"?}")
      ->required();
  cmd->add_option("--out", o->batch.out, "Results JSONL, appended as each task ends")->required();
  cmd->add_option("--trajectories", o->batch.trajectories,
                  "Trajectories JSONL: every message, tool call, result, timing and token count per task "
                  "(default: <out>.trajectories.jsonl)");
  cmd->add_option("--workspaces", o->batch.workspaces,
                  "Folder for the per-task workspaces of tasks without one (default: <out>.workspaces)");
  cmd->add_option("--concurrency", o->batch.concurrency, "Tasks running at once")->capture_default_str();
  add_common_flags(cmd, o->common, false);
  cmd->footer(
      "Run it again after an interruption (even kill -9): finished tasks are skipped, each task ends up "
      "exactly once in the output. A progress bar is drawn when stderr is a terminal.");
  cmd->callback([o, &ctx] {
    try {
      o->batch.cfg = resolve_config(o->common);
      ctx.exit_code = run_batch(o->batch);
    } catch (const std::exception& e) {
      std::cerr << "whalebox batch: " << e.what() << "\n";
      ctx.exit_code = 1;
    }
  });
}

}  // namespace whalebox::agent
