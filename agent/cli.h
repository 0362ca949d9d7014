#pragma once
// Subcommands of the `whalebox` binary. Each group lives in its own cli_<group>.cc and registers
// itself on the root app; the callback stores the process exit code in `exit_code`.
#include <CLI/CLI.hpp>

namespace whalebox::agent {

struct CliContext {
  int exit_code = 0;
};

void add_bench_commands(CLI::App& app, CliContext& ctx);
void add_batch_commands(CLI::App& app, CliContext& ctx);
void add_chat_commands(CLI::App& app, CliContext& ctx);
void add_run_commands(CLI::App& app, CliContext& ctx);
void add_dsml_commands(CLI::App& app, CliContext& ctx);
void add_model_commands(CLI::App& app, CliContext& ctx);
void add_sandbox_commands(CLI::App& app, CliContext& ctx);

// Sets spdlog's default logger to stderr; quiet (warnings) unless -v/-vv.
void configure_logging(int verbosity);

}  // namespace whalebox::agent
