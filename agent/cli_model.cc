// `whalebox model ...`: inspect and run V4 checkpoints with the embedded engine.
#include <iostream>

#include "agent/cli.h"
#include "model/config.h"
#include "model/plan.h"

namespace whalebox::agent {

namespace {

void add_plan(CLI::App& group, CliContext& ctx) {
  auto* cmd = group.add_subcommand("plan", "Parameter counts, layer kinds, weight and KV-cache sizes from config.json alone");
  struct Opts {
    std::string config;
    int64_t context = 1 << 20;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--config", o->config, "config.json of a V4-architecture checkpoint")->required();
  cmd->add_option("--context", o->context, "Context length for the KV-cache figures (default 1048576)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "Print one JSON object instead of text");
  cmd->callback([o, &ctx] {
    try {
      auto cfg = model::load_config(o->config);
      auto plan = model::make_plan(cfg, o->context);
      std::cout << (o->json ? model::plan_json(cfg, plan) + "\n" : model::plan_text(cfg, plan));
    } catch (const std::exception& e) {
      std::cerr << "whalebox model plan: " << e.what() << "\n";
      ctx.exit_code = 1;
    }
  });
}

}  // namespace

void add_model_commands(CLI::App& app, CliContext& ctx) {
  auto* group = app.add_subcommand("model", "Inspect and run V4 checkpoints with the embedded CPU engine");
  group->require_subcommand(1);
  add_plan(*group, ctx);
}

}  // namespace whalebox::agent
