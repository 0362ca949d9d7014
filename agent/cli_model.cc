// `whalebox model ...`: inspect and run V4 checkpoints with the embedded engine.
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/cli.h"
#include "dsml/message.h"
#include "dsml/renderer.h"
#include "model/config.h"
#include "model/engine.h"
#include "model/kernels.h"
#include "model/plan.h"
#include "model/sampling.h"
#include "model/thread_pool.h"

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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* format_name(model::WeightFormat f) {
  switch (f) {
    case model::WeightFormat::F32: return "F32";
    case model::WeightFormat::BF16: return "BF16";
    case model::WeightFormat::FP8: return "FP8";
    case model::WeightFormat::FP4: return "FP4";
  }
  return "?";
}

void add_info(CLI::App& group, CliContext& ctx) {
  auto* cmd = group.add_subcommand("info", "Load a checkpoint directory and describe it (config, weights, tokenizer, CPU path)");
  struct Opts {
    std::string dir;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->dir, "Checkpoint directory (config.json, *.safetensors, tokenizer.json)")->required();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->callback([o, &ctx] {
    try {
      auto t0 = std::chrono::steady_clock::now();
      auto m = model::Model::load(o->dir);
      double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const auto& c = m->config();
      auto plan = model::make_plan(c, c.max_position_embeddings > 0 ? c.max_position_embeddings : 1 << 20);
      std::map<std::string, int> formats;
      auto count = [&](const model::Weight& w) { formats[format_name(w.format)]++; };
      for (auto& l : m->weights().layers) {
        for (auto* w : {&l.wq_a, &l.wq_b, &l.wkv, &l.wo_a, &l.wo_b}) count(*w);
        for (auto& e : l.experts) count(e.w1), count(e.w2), count(e.w3);
      }
      nlohmann::json j;
      j["model"] = o->dir;
      j["load_ms"] = load_ms;
      j["hidden_size"] = c.hidden_size;
      j["layers"] = c.num_hidden_layers;
      j["mtp_blocks"] = m->weights().mtp.size();
      j["vocab_size"] = c.vocab_size;
      j["params"] = {{"total", plan.params_total}, {"active", plan.params_active}, {"mtp", plan.params_mtp}};
      std::vector<std::string> kinds;
      for (int l = 0; l < c.num_hidden_layers; ++l) kinds.push_back(model::layer_kind_name(plan.kinds[size_t(l)]));
      j["layer_kinds"] = kinds;
      j["linear_formats"] = formats;
      j["mapped_bytes"] = m->weights().file.mapped_bytes();
      j["weight_bytes_per_token"] = m->weights().weight_bytes_per_token;
      j["kv_bytes_per_token_at_max_context"] = plan.kv_bytes_per_token;
      j["isa"] = model::isa_name(model::active_isa());
      j["threads"] = model::thread_count();
      if (auto* tok = m->tokenizer()) {
        j["tokenizer"] = {{"vocab_size", tok->vocab_size()},
                          {"bos", tok->token_bytes(c.bos_token_id)},
                          {"eos", tok->token_bytes(c.eos_token_id)}};
      } else {
        j["tokenizer"] = nullptr;
      }
      if (o->json) {
        std::cout << j.dump() << "\n";
        return;
      }
      for (auto& [k, v] : j.items()) std::cout << k << ": " << v.dump() << "\n";
    } catch (const std::exception& e) {
      std::cerr << "whalebox model info: " << e.what() << "\n";
      ctx.exit_code = 1;
    }
  });
}

void add_generate(CLI::App& group, CliContext& ctx) {
  auto* cmd = group.add_subcommand("generate", "Generate text with the embedded engine, streaming tokens to stdout");
  struct Opts {
    std::string dir, prompt, prompt_file, messages;
    bool greedy = false, fast = false, stats = false;
    int max_tokens = 256;
    float temperature = 1.0f, top_p = 1.0f;
    int top_k = 0;
    uint64_t seed = 0;
    std::string mode = "chat";
    std::string load_kv, save_kv;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->dir, "Checkpoint directory")->required();
  auto* p1 = cmd->add_option("--prompt", o->prompt, "Prompt text (special tokens such as <｜User｜> are recognised)");
  auto* p2 = cmd->add_option("--prompt-file", o->prompt_file, "Read the prompt text from a file");
  auto* p3 = cmd->add_option("--messages", o->messages, "Chat request JSON ({\"messages\": [...], \"tools\": [...]}) rendered with the V4 template");
  p1->excludes(p2)->excludes(p3);
  p2->excludes(p3);
  cmd->add_option("--mode", o->mode, "For --messages: chat or thinking")->check(CLI::IsMember({"chat", "thinking"}));
  cmd->add_flag("--greedy", o->greedy, "Greedy decoding (argmax)");
  cmd->add_option("--max-tokens", o->max_tokens, "Most tokens to generate (default 256)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (default 1.0)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling mass (default 1.0)");
  cmd->add_option("--top-k", o->top_k, "Sample from the k most likely tokens (0: all)");
  cmd->add_option("--seed", o->seed, "Random seed");
  cmd->add_flag("--fast", o->fast, "Fast numerics (production 584-byte KV entries) instead of exact emulation");
  cmd->add_flag("--stats", o->stats, "Print token counts and speeds on stderr");
  cmd->add_option("--load-kv", o->load_kv, "Continue a sequence saved with --save-kv (the prompt is appended to it)");
  cmd->add_option("--save-kv", o->save_kv, "Save the sequence's KV state (prompt + generated tokens) to this file");
  cmd->callback([o, &ctx] {
    try {
      if (o->prompt.empty() && o->prompt_file.empty() && o->messages.empty())
        throw std::runtime_error("one of --prompt, --prompt-file or --messages is required");
      model::EngineOptions eo;
      eo.exact = !o->fast;
      auto m = model::Model::load(o->dir, eo);
      const auto* tok = m->tokenizer();
      if (!tok) throw std::runtime_error(o->dir + ": no tokenizer.json");
      std::string text;
      if (!o->messages.empty()) {
        auto req = dsml::request_from_json(dsml::Json::parse(read_file(o->messages)));
        dsml::RenderOptions ro;
        ro.mode = o->mode == "thinking" ? dsml::Mode::thinking : dsml::Mode::chat;
        text = dsml::render(req, ro);
      } else {
        text = !o->prompt_file.empty() ? read_file(o->prompt_file) : o->prompt;
      }
      auto ids = tok->encode(text);
      if (ids.empty()) throw std::runtime_error("the prompt is empty (generation needs at least one new token)");
      model::GenerateOptions go;
      go.max_tokens = o->max_tokens;
      go.sampling.greedy = o->greedy;
      go.sampling.temperature = o->temperature;
      go.sampling.top_p = o->top_p;
      go.sampling.top_k = o->top_k;
      go.sampling.seed = o->seed;
      const int32_t eos = m->config().eos_token_id;
      go.on_token = [&](int32_t t) {
        if (t != eos) std::cout << tok->token_bytes(t) << std::flush;
        return true;
      };
      auto cache = o->load_kv.empty() ? m->new_cache() : model::KvCache::restore(m->config(), read_file(o->load_kv));
      auto t0 = std::chrono::steady_clock::now();
      auto res = model::generate(*m, cache, ids, go);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cout << "\n";
      if (!o->save_kv.empty()) {
        std::ofstream out(o->save_kv, std::ios::binary | std::ios::trunc);
        std::string snap = cache.snapshot();
        out.write(snap.data(), std::streamsize(snap.size()));
        if (!out) throw std::runtime_error("cannot write " + o->save_kv);
      }
      if (o->stats)
        std::cerr << "prompt_tokens=" << res.prompt_tokens << " generated_tokens=" << res.tokens.size()
                  << " stop=" << res.stop_reason << " seconds=" << s << "\n";
    } catch (const std::exception& e) {
      std::cerr << "whalebox model generate: " << e.what() << "\n";
      ctx.exit_code = 1;
    }
  });
}

}  // namespace

void add_model_commands(CLI::App& app, CliContext& ctx) {
  auto* group = app.add_subcommand("model", "Inspect and run V4 checkpoints with the embedded CPU engine");
  group->require_subcommand(1);
  add_plan(*group, ctx);
  add_info(*group, ctx);
  add_generate(*group, ctx);
}

}  // namespace whalebox::agent
