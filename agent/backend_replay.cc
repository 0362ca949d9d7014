#include "agent/backend_replay.h"

#include <fstream>

#include "agent/backend_completions.h"

namespace whalebox::agent {

namespace asio = boost::asio;

std::vector<json> load_replay_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw BackendError("cannot read replay file " + path);
  std::vector<json> lines;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object())
      throw BackendError(path + ":" + std::to_string(n) + ": each line must be a JSON object");
    if (!j.contains("text") && !j.contains("content") && !j.contains("tool_calls"))
      throw BackendError(path + ":" + std::to_string(n) + ": needs \"text\", or \"content\"/\"tool_calls\"");
    lines.push_back(std::move(j));
  }
  if (lines.empty()) throw BackendError("replay file " + path + " holds no completions");
  return lines;
}

namespace {

Completion from_message(const json& j) {
  Completion c;
  c.reasoning = j.value("reasoning_content", std::string());
  c.content = j.value("content", std::string());
  if (auto calls = j.find("tool_calls"); calls != j.end() && calls->is_array()) {
    for (size_t i = 0; i < calls->size(); ++i) {
      const json& tc = (*calls)[i];
      const json& fn = tc.contains("function") ? tc["function"] : tc;
      ToolCall call;
      call.id = tc.value("id", "call_" + std::to_string(i));
      call.name = fn.value("name", std::string());
      const json& args = fn.contains("arguments") ? fn["arguments"] : json::object();
      call.arguments = args.is_string() ? args.get<std::string>() : args.dump();
      if (call.name.empty()) call.error = "the tool call has no function name";
      c.calls.push_back(std::move(call));
    }
  }
  return c;
}

class ReplayBackend : public Backend {
 public:
  ReplayBackend(std::vector<json> lines, bool loop) : lines_(std::move(lines)), loop_(loop) {}

  asio::awaitable<Completion> complete(const ModelRequest& r, const StreamHandler& on, Cancel& cancel) override {
    if (cancel.fired()) throw Cancelled();
    if (next_ >= lines_.size()) {
      if (!loop_) throw BackendError("replay: all " + std::to_string(lines_.size()) + " recorded completions were used");
      next_ = 0;
    }
    const json& line = lines_[next_++];
    Completion c;
    if (auto t = line.find("text"); t != line.end() && t->is_string()) {
      dsml::StreamParser parser(r.thinking ? dsml::Mode::thinking : dsml::Mode::chat, [&](const dsml::Event& e) {
        if (e.type == dsml::EventType::reasoning && on.on_reasoning) on.on_reasoning(e.text);
        if (e.type == dsml::EventType::content && on.on_content) on.on_content(e.text);
      });
      parser.feed(t->get_ref<const std::string&>());
      parser.finish();
      c = completion_from_parse(parser.message());
    } else {
      c = from_message(line);
      if (on.on_reasoning && !c.reasoning.empty()) on.on_reasoning(c.reasoning);
      if (on.on_content && !c.content.empty()) on.on_content(c.content);
    }
    c.finish_reason = c.calls.empty() ? "stop" : "tool_calls";
    co_return c;
  }

 private:
  std::vector<json> lines_;
  bool loop_;
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_replay_backend(std::vector<json> lines, bool loop) {
  return std::make_unique<ReplayBackend>(std::move(lines), loop);
}

}  // namespace whalebox::agent
