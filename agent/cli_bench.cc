#include <algorithm>
#include <iostream>

#include "agent/cli.h"
#include "bench/bench.h"

namespace whalebox::agent {

void add_bench_commands(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("bench", "Run a benchmark; the last line of output is one JSON object");
  auto name = std::make_shared<std::string>();
  auto list = std::make_shared<bool>(false);
  cmd->add_option("name", *name, "Benchmark to run (see --list)");
  cmd->add_flag("--list", *list, "List the benchmarks");
  // Everything after the benchmark name goes to the benchmark itself (`whalebox bench dsml --rounds 7`).
  cmd->prefix_command();
  cmd->fallthrough(false);
  // No CLI11 help flag: `bench <name> --help` must reach the benchmark's own options.
  cmd->set_help_flag();
  cmd->footer("Benchmarks report ratios against a peer measured in the same run.\n"
              "`whalebox bench <name> --help` lists a benchmark's own options.");
  cmd->callback([cmd, name, list, &ctx] {
    const auto rest = cmd->remaining();
    const bool help = std::find_if(rest.begin(), rest.end(), [](const std::string& a) { return a == "-h" || a == "--help"; }) != rest.end();
    if (help && name->empty()) {
      std::cout << cmd->help();
      ctx.exit_code = 0;
      return;
    }
    if (*list || name->empty()) {
      for (const auto& b : bench::registry()) std::cout << b.name << "\t" << b.summary << "\n";
      ctx.exit_code = name->empty() && !*list ? 2 : 0;
      return;
    }
    for (const auto& b : bench::registry()) {
      if (b.name == *name) {
        if (help) {
          std::cout << b.summary << "\nUsage: whalebox bench " << b.name << " " << b.usage;
          ctx.exit_code = 0;
          return;
        }
        ctx.exit_code = b.run(rest);
        return;
      }
    }
    std::cerr << "whalebox bench: unknown benchmark '" << *name << "' (see `whalebox bench --list`)\n";
    ctx.exit_code = 2;
  });
}

}  // namespace whalebox::agent
