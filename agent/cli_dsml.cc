// `whalebox dsml render|parse`: the DSML codec on stdin/stdout (public interface; keep stable).
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "agent/cli.h"
#include "dsml/error.h"
#include "dsml/parser.h"
#include "dsml/renderer.h"
#include "dsml/validator.h"

namespace whalebox::agent {
namespace {

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

dsml::Json parse_json(const std::string& text, const std::string& what) {
  try {
    return dsml::Json::parse(text);
  } catch (const dsml::Json::exception& e) {
    throw dsml::Error(what + " is not valid JSON: " + e.what());
  }
}

dsml::Mode mode_of(const std::string& s) { return s == "chat" ? dsml::Mode::chat : dsml::Mode::thinking; }

int render_command(const std::string& mode, const std::string& effort, bool drop_thinking) {
  dsml::RenderOptions opt;
  opt.mode = mode_of(mode);
  opt.effort = effort == "max" || effort == "xhigh" ? dsml::Effort::max
               : effort == "high"                   ? dsml::Effort::high
                                                    : dsml::Effort::none;
  opt.drop_thinking = drop_thinking;
  dsml::Request req = dsml::request_from_json(parse_json(read_all(std::cin), "the request on stdin"));
  std::cout << dsml::render(req, opt) << std::flush;  // exact bytes: no trailing newline
  return 0;
}

int parse_command(const std::string& mode, const std::string& tools_path) {
  std::optional<dsml::ToolSet> tools;
  if (!tools_path.empty()) {
    std::ifstream f(tools_path, std::ios::binary);
    if (!f) throw dsml::Error("cannot read tools file " + tools_path);
    dsml::Json j = parse_json(read_all(f), tools_path);
    if (j.is_object() && j.contains("tools")) j = j["tools"];  // a request body works too
    tools.emplace(j);
  }
  dsml::ParsedMessage msg = dsml::parse_completion(read_all(std::cin), mode_of(mode));

  dsml::Json out = dsml::Json::object();
  out["reasoning_content"] = msg.reasoning_content;
  out["content"] = msg.content;
  out["tool_calls"] = dsml::Json::array();
  dsml::Json errors = dsml::Json::array();
  for (const dsml::ParseError& e : msg.errors) errors.push_back({{"call", e.call}, {"message", e.message}});
  for (size_t i = 0; i < msg.tool_calls.size(); ++i) {
    const dsml::ParsedCall& call = msg.tool_calls[i];
    dsml::Validation v = tools ? dsml::validate(call, *tools) : dsml::check_syntax(call);
    out["tool_calls"].push_back({{"name", call.name}, {"arguments", v.ok() ? v.arguments : call.arguments}});
    for (const dsml::ValidationError& e : v.errors) {
      if (e.code == dsml::ErrorCode::incomplete_call) continue;  // the parser already said so
      errors.push_back({{"call", i}, {"message", e.message}});
    }
  }
  out["incomplete"] = msg.incomplete;
  out["errors"] = std::move(errors);
  std::cout << out.dump(2, ' ', false, dsml::Json::error_handler_t::replace) << "\n";
  return 0;
}

// Bad input is reported on stderr with exit code 1, never as a crash.
template <class F>
void guarded(CliContext& ctx, const char* name, F&& f) {
  try {
    ctx.exit_code = f();
  } catch (const std::exception& e) {
    std::cerr << "whalebox dsml " << name << ": " << e.what() << "\n";
    ctx.exit_code = 1;
  }
}

}  // namespace

void add_dsml_commands(CLI::App& app, CliContext& ctx) {
  auto* dsml = app.add_subcommand("dsml", "DeepSeek-V4 chat encoding: render prompts, parse DSML tool calls");
  dsml->require_subcommand(1);

  struct RenderArgs {
    std::string mode = "thinking";
    std::string effort;
    bool drop_thinking = true;
  };
  auto r = std::make_shared<RenderArgs>();
  auto* render = dsml->add_subcommand(
      "render", "Render an OpenAI chat request (stdin: {\"messages\", \"tools\"} or a message array) to the exact V4 prompt");
  render->add_option("--mode", r->mode, "thinking or chat")->check(CLI::IsMember({"thinking", "chat"}));
  render->add_option("--effort", r->effort, "reasoning effort: max (adds the max-effort preamble), high, or none")
      ->check(CLI::IsMember({"max", "xhigh", "high", "none", "low", "medium"}));
  render->add_option("--drop-thinking", r->drop_thinking,
                     "drop reasoning of turns before the last user message when no tools are declared (default true)");
  render->callback([r, &ctx] { guarded(ctx, "render", [&] { return render_command(r->mode, r->effort, r->drop_thinking); }); });

  struct ParseArgs {
    std::string mode = "thinking";
    std::string tools;
  };
  auto p = std::make_shared<ParseArgs>();
  auto* parse = dsml->add_subcommand(
      "parse", "Parse a completion (stdin: text after the prompt, special tokens kept) into reasoning, content and tool calls");
  parse->add_option("--mode", p->mode, "thinking (output starts inside <think>) or chat")
      ->check(CLI::IsMember({"thinking", "chat"}));
  parse->add_option("--tools", p->tools, "OpenAI tools JSON (list, or a request with \"tools\") to validate the calls against");
  parse->callback([p, &ctx] { guarded(ctx, "parse", [&] { return parse_command(p->mode, p->tools); }); });
}

}  // namespace whalebox::agent
