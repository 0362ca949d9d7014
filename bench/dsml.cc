// `whalebox bench dsml`: parse+validate throughput of DSML tool calls (whole buffer and ≈4-byte
// streaming chunks) against nlohmann::json parsing the same calls in OpenAI form (the message
// JSON, then each `arguments` string), all measured in this run on the same generated corpus.
#include <algorithm>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "dsml/parser.h"
#include "dsml/renderer.h"
#include "dsml/validator.h"

namespace whalebox::bench {
namespace {

using dsml::Json;

const char* kTools = R"([
 {"type":"function","function":{"name":"shell","description":"Run a shell command","parameters":{"type":"object",
  "properties":{"command":{"type":"string"},"timeout":{"type":"integer"},"cwd":{"type":"string"}},"required":["command"]}}},
 {"type":"function","function":{"name":"write_file","description":"Write a file","parameters":{"type":"object",
  "properties":{"path":{"type":"string"},"content":{"type":"string"},"mode":{"type":"string","enum":["create","overwrite"]}},
  "required":["path","content"]}}},
 {"type":"function","function":{"name":"query","description":"Query records","parameters":{"type":"object",
  "properties":{"filter":{"type":"object","properties":{"status":{"type":"string"},"ids":{"type":"array","items":{"type":"integer"}}}},
   "sort":{"type":"array","items":{"type":"object","properties":{"field":{"type":"string"},"desc":{"type":"boolean"}},"required":["field"]}},
   "limit":{"type":"integer"},"score":{"type":"number"}},"required":["filter"]}}}
])";

// A plausible C++ source file: includes, templates, comparisons, strings with quotes and escapes.
std::string source_file(std::mt19937& rng, size_t lines) {
  static const char* kLines[] = {
      "#include <vector>", "#include \"util/strings.h\"", "template <typename T> T clamp(T v, T lo, T hi) {",
      "  return v < lo ? lo : (v > hi ? hi : v);", "}", "  if (a < b && c > d) return x & mask;",
      "  printf(\"%s: \\\"%d\\\"\\n\", name, count);", "  for (size_t i = 0; i < items.size(); ++i) {",
      "    total += items[i].weight * 0.5;  // weighted", "  std::map<std::string, std::vector<int>> index;",
      "\tconst char* s = \"<tag attr='x'>&amp;</tag>\";", "  // TODO: handle the empty case (é, 漢字)", "",
      "namespace demo {", "}  // namespace demo", "  return std::accumulate(v.begin(), v.end(), 0);"};
  std::string s;
  for (size_t i = 0; i < lines; ++i) {
    s += kLines[rng() % std::size(kLines)];
    s += '\n';
  }
  return s;
}

struct Corpus {
  std::vector<std::string> dsml;  // chat-mode completions: "\n\n<｜DSML｜tool_calls>…" + EOS
  std::vector<std::string> json;  // the same calls as OpenAI assistant messages
  size_t calls = 0, dsml_bytes = 0, json_bytes = 0;
};

Corpus make_corpus(size_t messages, unsigned seed) {
  std::mt19937 rng(seed);
  Corpus c;
  static const char* kCommands[] = {"ls -la /work && du -sh * | sort -h | tail -5",
                                    "grep -rn \"TODO\" src/ --include='*.cc' | head -20",
                                    "make -j2 2>&1 | tail -30", "git log --oneline -5 && git status --short",
                                    "find . -name '*.py' -newer setup.cfg -exec wc -l {} +"};
  for (size_t m = 0; m < messages; ++m) {
    std::vector<dsml::ToolCall> calls(1 + rng() % 3);
    for (auto& call : calls) {
      int kind = rng() % 3;
      if (kind == 0) {
        call.name = "shell";
        call.arguments = {{"command", kCommands[rng() % std::size(kCommands)]}, {"timeout", 30 + rng() % 300}};
      } else if (kind == 1) {
        call.name = "write_file";
        call.arguments = {{"path", "/work/src/file" + std::to_string(rng() % 100) + ".cc"},
                          {"content", source_file(rng, 40 + rng() % 400)}, {"mode", "overwrite"}};
      } else {
        call.name = "query";
        Json ids = Json::array();
        for (int i = 0, n = 3 + rng() % 20; i < n; ++i) ids.push_back(rng() % 100000);
        call.arguments = {{"filter", {{"status", "open"}, {"ids", ids}}},
                          {"sort", Json::array({{{"field", "created"}, {"desc", true}}, {{"field", "id"}}})},
                          {"limit", 50}, {"score", 0.75}};
      }
      call.id = "call_" + std::to_string(c.calls++);
    }
    std::string d = dsml::render_tool_calls(calls) + "<｜end▁of▁sentence｜>";
    dsml::Message msg;
    msg.role = "assistant";
    msg.tool_calls = calls;
    std::string j = dsml::message_to_json(msg).dump();
    c.dsml_bytes += d.size();
    c.json_bytes += j.size();
    c.dsml.push_back(std::move(d));
    c.json.push_back(std::move(j));
  }
  return c;
}

// CPU seconds of this thread: the machine may be shared, and wall time would charge the
// benchmark for other processes' time slices.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Seconds per pass of `repeat` passes.
template <class F>
double time_pass(F&& pass, int repeat) {
  double t0 = cpu_seconds();
  for (int i = 0; i < repeat; ++i) pass();
  return (cpu_seconds() - t0) / repeat;
}

}  // namespace

int run_dsml(const std::vector<std::string>& args) {
  size_t messages = 400;
  int repeat = 3, rounds = 5;
  size_t chunk = 4;
  std::string only;  // profile one side: whole, whole_events, stream or json
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--messages") messages = std::stoul(args[i + 1]);
    else if (args[i] == "--repeat") repeat = std::stoi(args[i + 1]);
    else if (args[i] == "--chunk") chunk = std::max<size_t>(1, std::stoul(args[i + 1]));
    else if (args[i] == "--only") only = args[i + 1];
    else if (args[i] == "--rounds") rounds = std::max(1, std::stoi(args[i + 1]));
    else {
      std::cerr << "usage: whalebox bench dsml [--messages N] [--repeat N] [--chunk BYTES] [--rounds N] [--only whole|whole_events|stream|json]\n";
      return 2;
    }
  }
  Corpus corpus = make_corpus(messages, 42);
  dsml::ToolSet tools(Json::parse(kTools));
  std::cerr << "dsml bench: " << corpus.dsml.size() << " messages, " << corpus.calls << " calls, "
            << corpus.dsml_bytes << " DSML bytes, " << corpus.json_bytes << " JSON bytes\n";

  size_t sink = 0, invalid = 0;
  auto validate_all = [&](const dsml::ParsedMessage& m) {
    for (const dsml::ParsedCall& call : m.tool_calls) {
      dsml::Validation v = dsml::validate(call, tools);
      invalid += !v.ok();
      sink += v.arguments.size();
    }
  };
  // Streaming consumers get events; count their bytes so the work is not optimised away.
  auto on_event = [&](const dsml::Event& e) { sink += e.text.size(); };

  auto whole_pass = [&] {
    for (const std::string& text : corpus.dsml) validate_all(dsml::parse_completion(text, dsml::Mode::chat));
  };
  // The same streaming consumer (events on) fed either the whole text at once or ≈4-byte pieces.
  auto stream_pass_with = [&](size_t piece) {
    for (const std::string& text : corpus.dsml) {
      dsml::StreamParser p(dsml::Mode::chat, on_event);
      std::string_view v(text);
      for (size_t i = 0; i < v.size(); i += piece) p.feed(v.substr(i, piece));
      p.finish();
      validate_all(p.message());
    }
  };
  auto stream_pass = [&] { stream_pass_with(chunk); };
  auto whole_events_pass = [&] { stream_pass_with(SIZE_MAX); };
  auto json_pass = [&] {
    for (const std::string& text : corpus.json) {
      nlohmann::json msg = nlohmann::json::parse(text);
      for (const auto& call : msg["tool_calls"]) {
        nlohmann::json a = nlohmann::json::parse(call["function"]["arguments"].get_ref<const std::string&>());
        sink += a.size();
      }
    }
  };
  // Rounds interleave the three sides so they see the same machine conditions; best of each.
  auto skip = [&](const char* side) { return !only.empty() && only != side; };
  double t_whole = 1e30, t_whole_events = 1e30, t_stream = 1e30, t_json = 1e30;
  for (int r = 0; r < rounds; ++r) {
    if (!skip("whole")) t_whole = std::min(t_whole, time_pass(whole_pass, repeat));
    if (!skip("whole_events")) t_whole_events = std::min(t_whole_events, time_pass(whole_events_pass, repeat));
    if (!skip("stream")) t_stream = std::min(t_stream, time_pass(stream_pass, repeat));
    if (!skip("json")) t_json = std::min(t_json, time_pass(json_pass, repeat));
    std::cerr << "  round " << r + 1 << ": whole " << t_whole * 1e3 << " ms, whole+events " << t_whole_events * 1e3
              << " ms, " << chunk << "-byte stream "
              << t_stream * 1e3 << " ms, json " << t_json * 1e3 << " ms (best per pass so far)\n";
  }
  if (invalid) std::cerr << "  warning: " << invalid << " calls failed validation\n";

  double calls = static_cast<double>(corpus.calls);
  Json out = {
      {"bench", "dsml"},
      {"messages", corpus.dsml.size()},
      {"calls", corpus.calls},
      {"dsml_bytes", corpus.dsml_bytes},
      {"json_bytes", corpus.json_bytes},
      {"chunk_bytes", chunk},
      {"clock", "thread_cpu_time"},
      {"dsml_whole_calls_per_s", calls / t_whole},
      {"dsml_whole_events_calls_per_s", calls / t_whole_events},
      {"dsml_stream_calls_per_s", calls / t_stream},
      {"json_baseline_calls_per_s", calls / t_json},
      {"dsml_whole_mb_per_s", corpus.dsml_bytes / t_whole / 1e6},
      {"dsml_stream_mb_per_s", corpus.dsml_bytes / t_stream / 1e6},
      {"json_baseline_mb_per_s", corpus.json_bytes / t_json / 1e6},
      {"whole_vs_json", t_json / t_whole},
      {"stream_slowdown_vs_whole", t_stream / t_whole},
      {"stream_slowdown_vs_whole_events", t_stream / t_whole_events},
      {"target_whole_vs_json_min", 3.0},
      {"target_stream_slowdown_max", 2.0},
      {"invalid_calls", invalid},
  };
  std::cout << out.dump() << std::endl;
  return invalid ? 1 : 0;
}

}  // namespace whalebox::bench
