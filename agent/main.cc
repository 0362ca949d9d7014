// The whalebox binary: parses the command line and hands off to the subcommand groups.
#include <exception>
#include <iostream>

#include "agent/cli.h"
#include "whalebox/version.h"

int main(int argc, char** argv) {
  using namespace whalebox::agent;
  CLI::App app{"whalebox: a runtime for agentic tool use with DeepSeek-V4-class models", "whalebox"};
  app.set_version_flag("--version", std::string("whalebox ") + whalebox::kVersion);
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "More log output on stderr (-vv for debug)");
  app.require_subcommand(1);
  app.fallthrough();

  CliContext ctx;
  add_run_commands(app, ctx);
  add_chat_commands(app, ctx);
  add_batch_commands(app, ctx);
  add_bench_commands(app, ctx);
  add_dsml_commands(app, ctx);
  add_model_commands(app, ctx);
  add_sandbox_commands(app, ctx);

  app.parse_complete_callback([&] { configure_logging(verbosity); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "whalebox: " << e.what() << "\n";
    return 1;
  }
  return ctx.exit_code;
}
