// `whalebox run "task"`: one task in a fresh (or given) workspace; prints the final answer, or
// with --json the whole event stream as JSON lines.
#include <unistd.h>

#include <boost/asio.hpp>
#include <iostream>

#include "agent/backend_factory.h"
#include "agent/cli.h"
#include "agent/cli_options.h"
#include "agent/event_printer.h"
#include "agent/interrupts.h"
#include "agent/session.h"
#include "agent/workspace_sandbox.h"

namespace whalebox::agent {

namespace {

namespace asio = boost::asio;

struct RunOptions {
  std::string task;
  std::string workspace;
  bool json = false;
  bool progress = false;
  CommonFlags common;
};

int exit_code_for(const std::string& status) {
  if (status == "done") return 0;
  if (status == "cancelled") return 130;
  if (status == "error") return 1;
  return 3;  // a limit was reached
}

int run_task_command(const RunOptions& o) {
  AgentConfig cfg = resolve_config(o.common);
  if (cfg.approve != "read-only") cfg.approve = "auto";  // nobody to ask
  auto backend = make_backend(cfg.backend);
  std::string workspace = o.workspace;
  if (workspace.empty()) {
    workspace = fresh_workspace_dir();
    std::cerr << "workspace: " << workspace << "\n";
  }

  EventSink sink;
  EventPrinter printer(stderr, isatty(STDERR_FILENO), false);
  if (o.json) sink = [](const json& e) { std::cout << e.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl; };
  else if (o.progress || isatty(STDERR_FILENO)) sink = [&printer](const json& e) { printer(e); };
  else sink = [](const json&) {};

  asio::io_context io;
  auto sandboxes = sandbox::make_process_backend(io.get_executor());
  TaskResult result;
  std::string failure;
  Session* live = nullptr;
  Interrupts interrupts(io, [&] { if (live) live->cancel(); }, [] {});
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto box = co_await open_sandbox(*sandboxes, workspace);
    Session session(*backend, *box, tools_named(cfg.tools), cfg, sink);
    live = &session;
    result = co_await session.run_task(o.task);
    live = nullptr;
    co_await close_sandbox(*box);
  }, [&](std::exception_ptr e) {
    if (e) try { std::rethrow_exception(e); } catch (const std::exception& ex) { failure = ex.what(); }
    io.stop();
  });
  io.run();
  if (!failure.empty()) {
    std::cerr << "whalebox run: " << failure << "\n";
    return 1;
  }
  if (!o.json) {
    if (result.status == "done") std::cout << result.answer << (result.answer.ends_with('\n') ? "" : "\n");
    else std::cerr << "whalebox run: " << result.status << ": " << result.error << "\n";
  }
  return exit_code_for(result.status);
}

}  // namespace

void add_run_commands(CLI::App& app, CliContext& ctx) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run one task with the agent and print its final answer");
  cmd->add_option("task", o->task, "What to do")->required();
  cmd->add_option("--workspace", o->workspace,
                  "Host directory mounted at /workspace (default: a new temporary directory)");
  cmd->add_flag("--json", o->json, "Print every event (deltas, tool calls, results, final) as JSON lines");
  cmd->add_flag("--progress", o->progress,
                "Show reasoning, tool calls, results and token counts on stderr even when it is not a terminal");
  add_common_flags(cmd, o->common, false);
  cmd->footer("Exit status: 0 done, 1 error, 3 a limit was reached, 130 cancelled (Ctrl-C).");
  cmd->callback([o, &ctx] {
    try {
      ctx.exit_code = run_task_command(*o);
    } catch (const std::exception& e) {
      std::cerr << "whalebox run: " << e.what() << "\n";
      ctx.exit_code = 1;
    }
  });
}

}  // namespace whalebox::agent
