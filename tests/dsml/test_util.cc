#include "test_util.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dsml_test {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

std::string official_dir() { return std::string(WHALEBOX_SHARED_DIR) + "/testdata/dsml/official"; }

ParsedMessage parse_split(std::string_view text, Mode mode, const std::vector<size_t>& cuts) {
  std::string reasoning, content;
  std::vector<std::string> args;
  std::vector<std::string> names;
  int blocks = 0;
  StreamParser parser(mode, [&](const Event& e) {
    switch (e.type) {
      case EventType::reasoning: reasoning.append(e.text); break;
      case EventType::content: content.append(e.text); break;
      case EventType::call_started:
        names.emplace_back(e.text);
        args.emplace_back();
        break;
      case EventType::argument: args.at(e.call).append(e.text); break;
      case EventType::block_finished: ++blocks; break;
      default: break;
    }
  });
  size_t at = 0;
  for (size_t cut : cuts) {
    parser.feed(text.substr(at, cut - at));
    at = cut;
  }
  parser.feed(text.substr(at));
  parser.finish();
  const ParsedMessage& m = parser.message();
  EXPECT_EQ(reasoning, m.reasoning_content);
  EXPECT_EQ(content, m.content);
  EXPECT_EQ(names.size(), m.tool_calls.size());
  for (size_t i = 0; i < m.tool_calls.size() && i < names.size(); ++i) {
    EXPECT_EQ(names[i], m.tool_calls[i].name);
    // A complete call's argument deltas add up to the OpenAI arguments string, which is JSON
    // for these arguments whenever every string="false" value is.
    if (m.tool_calls[i].complete) {
      Json parsed = Json::parse(args[i], nullptr, false);
      bool values_are_json = true;
      for (const Parameter& p : m.tool_calls[i].params)
        values_are_json = values_are_json && (p.is_string || !Json::parse(p.value, nullptr, false).is_discarded());
      if (values_are_json) {
        EXPECT_FALSE(parsed.is_discarded()) << args[i];
      }
    }
  }
  return m;
}

std::string diff(const ParsedMessage& a, const ParsedMessage& b) {
  std::ostringstream d;
  if (a.reasoning_content != b.reasoning_content) d << "reasoning differs\n";
  if (a.content != b.content) d << "content differs: [" << a.content << "] vs [" << b.content << "]\n";
  if (a.tool_calls_raw != b.tool_calls_raw) d << "tool_calls_raw differs\n";
  if (a.incomplete != b.incomplete) d << "incomplete differs\n";
  if (a.eos != b.eos) d << "eos differs\n";
  if (a.errors.size() != b.errors.size()) d << "error count differs\n";
  for (size_t i = 0; i < a.errors.size() && i < b.errors.size(); ++i)
    if (a.errors[i].message != b.errors[i].message || a.errors[i].call != b.errors[i].call)
      d << "error " << i << " differs: " << a.errors[i].message << " | " << b.errors[i].message << "\n";
  if (a.tool_calls.size() != b.tool_calls.size()) {
    d << "call count differs\n";
    return d.str();
  }
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    const ParsedCall &x = a.tool_calls[i], &y = b.tool_calls[i];
    if (x.name != y.name || x.raw != y.raw || x.complete != y.complete || x.arguments != y.arguments ||
        x.params.size() != y.params.size())
      d << "call " << i << " differs\n";
    for (size_t k = 0; k < x.params.size() && k < y.params.size(); ++k)
      if (x.params[k].name != y.params[k].name || x.params[k].value != y.params[k].value ||
          x.params[k].is_string != y.params[k].is_string)
        d << "call " << i << " param " << k << " differs\n";
  }
  return d.str();
}

std::vector<Case> corpus() {
  std::vector<Case> cases;
  if (file_exists(official_dir() + "/test_input_1.json")) {
    for (int i = 1; i <= 4; ++i) {
      Case c;
      c.name = "official_" + std::to_string(i);
      c.request = request_from_json(Json::parse(read_file(official_dir() + "/test_input_" + std::to_string(i) + ".json")));
      c.options.mode = i == 4 ? Mode::chat : Mode::thinking;
      cases.push_back(std::move(c));
    }
  }
  Json own = Json::parse(read_file(std::string(WHALEBOX_DSML_TEST_DATA) + "/conversations.json"));
  for (const Json& j : own) {
    Case c;
    c.name = j["name"].get<std::string>();
    c.request = request_from_json(j["request"]);
    c.options.mode = j.value("mode", "thinking") == "chat" ? Mode::chat : Mode::thinking;
    c.options.drop_thinking = j.value("drop_thinking", true);
    cases.push_back(std::move(c));
  }
  return cases;
}

Turn assistant_turn(const Case& c, size_t k) {
  Request before = c.request, through = c.request;
  before.messages.resize(k);
  through.messages.resize(k + 1);
  Turn t;
  t.prompt = render(before, c.options);
  std::string full = render(through, c.options);
  EXPECT_EQ(full.compare(0, t.prompt.size(), t.prompt), 0) << c.name << " turn " << k << ": prompt is not a prefix";
  t.completion = full.substr(t.prompt.size());
  return t;
}

}  // namespace dsml_test
