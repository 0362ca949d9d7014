#include "agent/backend_openai.h"

#include "agent/http_stream.h"
#include "agent/sse.h"

namespace whalebox::agent {

namespace asio = boost::asio;

namespace {

// Accumulates one streamed chat completion from its SSE chunks.
struct ChatStream {
  Completion out;
  SseDecoder sse;
  bool done = false;

  void reset() { *this = ChatStream{}; }

  void on_event(const std::string& data, const StreamHandler& on) {
    if (data == "[DONE]") {
      done = true;
      return;
    }
    auto j = json::parse(data, nullptr, false);
    if (!j.is_object()) throw BackendError("the server sent a stream event that is not JSON: " + data.substr(0, 200));
    if (j.contains("error")) throw BackendError("the server reported an error mid-stream: " + j["error"].dump());
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      out.usage = usage_from_json(*u);
    }
    auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array() || choices->empty()) return;
    const json& choice = (*choices)[0];
    if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) on_delta(*d, on);
    if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
      out.finish_reason = f->get<std::string>();
      done = true;  // usage may still follow, [DONE] may not
    }
  }

  void on_delta(const json& d, const StreamHandler& on) {
    if (auto r = d.find("reasoning_content"); r != d.end() && r->is_string()) {
      const auto& s = r->get_ref<const std::string&>();
      out.reasoning += s;
      if (on.on_reasoning && !s.empty()) on.on_reasoning(s);
    }
    if (auto c = d.find("content"); c != d.end() && c->is_string()) {
      const auto& s = c->get_ref<const std::string&>();
      out.content += s;
      if (on.on_content && !s.empty()) on.on_content(s);
    }
    auto calls = d.find("tool_calls");
    if (calls == d.end() || !calls->is_array()) return;
    for (const auto& tc : *calls) {
      size_t index = tc.value("index", out.calls.size());
      if (index > 1024) throw BackendError("tool call index out of range: " + std::to_string(index));
      if (index >= out.calls.size()) out.calls.resize(index + 1);
      ToolCall& call = out.calls[index];
      if (auto id = tc.find("id"); id != tc.end() && id->is_string()) call.id = id->get<std::string>();
      auto fn = tc.find("function");
      if (fn == tc.end() || !fn->is_object()) continue;
      if (auto n = fn->find("name"); n != fn->end() && n->is_string()) call.name += n->get<std::string>();
      if (auto a = fn->find("arguments"); a != fn->end() && a->is_string()) call.arguments += a->get<std::string>();
    }
  }
};

class OpenAiBackend : public Backend {
 public:
  explicit OpenAiBackend(const BackendConfig& cfg)
      : cfg_(cfg), req_(streaming_request(cfg, "/chat/completions")), retry_(retry_policy(cfg)) {}

  asio::awaitable<Completion> complete(const ModelRequest& r, const StreamHandler& on, Cancel& cancel) override {
    json body = {{"model", cfg_.model}, {"messages", r.messages}, {"stream", true},
                 {"stream_options", {{"include_usage", true}}}};
    if (!r.tools.empty()) body["tools"] = r.tools;
    if (r.max_tokens > 0) body["max_tokens"] = r.max_tokens;
    for (const auto& [k, v] : cfg_.request_extra.items()) body[k] = v;
    HttpRequest req = req_;
    req.body = body.dump();

    ChatStream stream;
    StreamParser parser{
        [&] { stream.reset(); },
        [&](std::string_view bytes) { stream.sse.feed(bytes, [&](const std::string& e) { stream.on_event(e, on); }); },
        [&] { return stream.done; }};
    co_await post_streaming(req, retry_, parser, on, cancel);
    for (size_t i = 0; i < stream.out.calls.size(); ++i) {
      auto& c = stream.out.calls[i];
      if (c.id.empty()) c.id = "call_" + std::to_string(i);
      if (c.name.empty()) c.error = "the tool call has no function name";
    }
    co_return std::move(stream.out);
  }

 private:
  BackendConfig cfg_;
  HttpRequest req_;
  RetryPolicy retry_;
};

}  // namespace

std::unique_ptr<Backend> make_openai_backend(const BackendConfig& cfg) {
  return std::make_unique<OpenAiBackend>(cfg);
}

}  // namespace whalebox::agent
