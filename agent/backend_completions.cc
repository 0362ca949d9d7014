#include "agent/backend_completions.h"

#include "agent/http_stream.h"
#include "agent/sse.h"
#include "dsml/renderer.h"

namespace whalebox::agent {

namespace asio = boost::asio;

std::string render_prompt(const json& messages, const json& tools, bool thinking) {
  dsml::Request req = dsml::request_from_json(json{{"messages", messages}, {"tools", tools}});
  for (size_t i = 0; i < messages.size() && i < req.messages.size(); ++i)
    if (auto raw = messages[i].find("x_dsml_raw"); raw != messages[i].end() && raw->is_string())
      req.messages[i].tool_calls_raw = raw->get<std::string>();
  dsml::RenderOptions opt;
  opt.mode = thinking ? dsml::Mode::thinking : dsml::Mode::chat;
  return dsml::render(req, opt);
}

Completion completion_from_parse(const dsml::ParsedMessage& m) {
  Completion c;
  c.reasoning = m.reasoning_content;
  c.content = m.content;
  c.raw_tool_calls = m.tool_calls_raw;
  for (size_t i = 0; i < m.tool_calls.size(); ++i) {
    const auto& p = m.tool_calls[i];
    ToolCall call;
    call.id = "call_" + std::to_string(i);
    call.name = p.name;
    call.arguments = dsml::python_dumps(p.arguments);
    call.parsed = p;
    c.calls.push_back(std::move(call));
  }
  return c;
}

namespace {

class CompletionsBackend : public Backend {
 public:
  explicit CompletionsBackend(const BackendConfig& cfg)
      : cfg_(cfg), req_(streaming_request(cfg, "/completions")), retry_(retry_policy(cfg)) {}

  asio::awaitable<Completion> complete(const ModelRequest& r, const StreamHandler& on, Cancel& cancel) override {
    std::string prompt;
    try {
      prompt = render_prompt(r.messages, r.tools, r.thinking);
    } catch (const std::exception& e) {
      throw BackendError(std::string("cannot render the conversation: ") + e.what());
    }
    json body = {{"model", cfg_.model}, {"prompt", prompt}, {"stream", true},
                 {"skip_special_tokens", false},  // </think> and ｜DSML｜ must reach the parser
                 {"stream_options", {{"include_usage", true}}}};
    if (r.max_tokens > 0) body["max_tokens"] = r.max_tokens;
    for (const auto& [k, v] : cfg_.request_extra.items()) body[k] = v;
    HttpRequest req = req_;
    req.body = body.dump();

    const dsml::Mode mode = r.thinking ? dsml::Mode::thinking : dsml::Mode::chat;
    std::unique_ptr<dsml::StreamParser> parser;
    SseDecoder sse;
    bool done = false;
    Usage usage;
    std::string finish;
    auto on_parse = [&](const dsml::Event& e) {
      if (e.type == dsml::EventType::reasoning && on.on_reasoning) on.on_reasoning(e.text);
      if (e.type == dsml::EventType::content && on.on_content) on.on_content(e.text);
    };
    auto on_event = [&](const std::string& data) {
      if (data == "[DONE]") {
        done = true;
        return;
      }
      auto j = json::parse(data, nullptr, false);
      if (!j.is_object()) throw BackendError("the server sent a stream event that is not JSON: " + data.substr(0, 200));
      if (j.contains("error")) throw BackendError("the server reported an error mid-stream: " + j["error"].dump());
      if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
        usage = usage_from_json(*u);
      }
      auto choices = j.find("choices");
      if (choices == j.end() || !choices->is_array() || choices->empty()) return;
      const json& choice = (*choices)[0];
      if (auto t = choice.find("text"); t != choice.end() && t->is_string()) parser->feed(t->get_ref<const std::string&>());
      if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
        finish = f->get<std::string>();
        done = true;
      }
    };
    StreamParser stream{
        [&] {
          parser = std::make_unique<dsml::StreamParser>(mode, on_parse);
          sse = SseDecoder{};
          done = false;
          usage = {};
          finish.clear();
        },
        [&](std::string_view bytes) { sse.feed(bytes, on_event); },
        [&] { return done; }};
    co_await post_streaming(req, retry_, stream, on, cancel);
    parser->finish();
    Completion c = completion_from_parse(parser->message());
    c.usage = usage;
    c.finish_reason = c.calls.empty() ? finish : "tool_calls";
    if (finish == "length") c.finish_reason = "length";
    co_return c;
  }

 private:
  BackendConfig cfg_;
  HttpRequest req_;
  RetryPolicy retry_;
};

}  // namespace

std::unique_ptr<Backend> make_completions_backend(const BackendConfig& cfg) {
  return std::make_unique<CompletionsBackend>(cfg);
}

}  // namespace whalebox::agent
