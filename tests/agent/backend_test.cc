// The openai backend against the mock server: streamed deltas, retries, clear errors.
#include <gtest/gtest.h>

#include "agent/backend_openai.h"
#include "agent/http_client.h"
#include "agent/sse.h"
#include "tests/agent/mock_server.h"
#include "tests/agent/run_coro.h"

namespace whalebox::agent {
namespace {

using test::MockReply;
using test::MockServer;

BackendConfig config_for(const MockServer& server) {
  BackendConfig cfg;
  cfg.base_url = server.base_url();
  cfg.model = "mock-model";
  cfg.api_key_env = "WHALEBOX_TEST_NO_SUCH_KEY";
  cfg.retry_delay_ms = 10;
  cfg.max_attempts = 3;
  return cfg;
}

struct Call {
  Completion completion;
  std::vector<std::string> retries;
  std::string reasoning_stream, content_stream;
};

Call complete(const BackendConfig& cfg, const json& messages = json::array({{{"role", "user"}, {"content", "hi"}}})) {
  boost::asio::io_context io;
  auto backend = make_openai_backend(cfg);
  json tools = json::array({{{"type", "function"}, {"function", {{"name", "t"}, {"parameters", {{"type", "object"}}}}}}});
  Call out;
  StreamHandler on;
  on.on_reasoning = [&](std::string_view s) { out.reasoning_stream += s; };
  on.on_content = [&](std::string_view s) { out.content_stream += s; };
  on.on_retry = [&](const std::string& why) { out.retries.push_back(why); };
  Cancel cancel;
  ModelRequest req{messages, tools};
  out.completion = test::run_coro(io, backend->complete(req, on, cancel));
  return out;
}

TEST(Sse, EventsSplitAnywhereAreReassembled) {
  std::string stream = "data: {\"a\":1}\r\n\r\n: comment\n\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseDecoder d;
    std::vector<std::string> events;
    auto on = [&](const std::string& e) { events.push_back(e); };
    d.feed(std::string_view(stream).substr(0, cut), on);
    d.feed(std::string_view(stream).substr(cut), on);
    ASSERT_EQ(events, (std::vector<std::string>{"{\"a\":1}", "x\ny", "[DONE]"})) << "cut at " << cut;
  }
}

TEST(Url, ParsesSchemesPortsAndPaths) {
  auto u = parse_url("https://api.deepseek.com/v1");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "api.deepseek.com");
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.path, "/v1");
  u = parse_url("http://127.0.0.1:8000");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.port, "8000");
  EXPECT_EQ(u.path, "/");
  EXPECT_THROW(parse_url("ftp://x"), std::invalid_argument);
  EXPECT_THROW(parse_url("http://host:12ab/"), std::invalid_argument);
  EXPECT_THROW(parse_url("http:///v1"), std::invalid_argument);
}

TEST(OpenAiBackend, StreamsReasoningContentAndToolCalls) {
  MockServer server([](const std::string& path, const json&) {
    MockReply r;
    r.events = test::chat_events("think ✓ hard", "ok", std::vector<nlohmann::json>({{{"name", "bash"}, {"arguments", R"({"command": "ls -l"})"}},
                                                                    {{"name", "read_file"}, {"arguments", R"({"path": "a.txt"})"}}}));
    return r;
  });
  auto out = complete(config_for(server));
  EXPECT_EQ(out.completion.reasoning, "think ✓ hard");
  EXPECT_EQ(out.reasoning_stream, "think ✓ hard");
  EXPECT_EQ(out.completion.content, "ok");
  EXPECT_EQ(out.content_stream, "ok");
  ASSERT_EQ(out.completion.calls.size(), 2u);
  EXPECT_EQ(out.completion.calls[0].name, "bash");
  EXPECT_EQ(out.completion.calls[0].arguments, R"({"command": "ls -l"})");
  EXPECT_EQ(out.completion.calls[1].name, "read_file");
  EXPECT_EQ(out.completion.calls[1].id, "call_1_read_file");
  EXPECT_EQ(out.completion.finish_reason, "tool_calls");
  EXPECT_EQ(out.completion.usage.completion_tokens, 10);
  EXPECT_TRUE(out.retries.empty());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0]["model"], "mock-model");
  EXPECT_EQ(reqs[0]["stream"], true);
  EXPECT_EQ(reqs[0]["tools"][0]["function"]["name"], "t");
}

TEST(OpenAiBackend, DroppedStreamIsReportedAndRetried) {
  std::atomic<int> n{0};
  MockServer server([&](const std::string&, const json&) {
    MockReply r;
    r.events = test::chat_events("reasoning that is long enough", "answer");
    if (n++ == 0) r.drop_after = 3;
    return r;
  });
  auto out = complete(config_for(server));
  ASSERT_EQ(out.retries.size(), 1u);
  EXPECT_NE(out.retries[0].find("connection lost mid-response"), std::string::npos) << out.retries[0];
  EXPECT_EQ(out.completion.content, "answer");
  EXPECT_EQ(out.completion.reasoning, "reasoning that is long enough");
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(OpenAiBackend, ServerErrorsAreRetriedWithBackoff) {
  std::atomic<int> n{0};
  MockServer server([&](const std::string&, const json&) {
    MockReply r;
    if (n++ < 2) {
      r.status = n == 1 ? 429 : 503;
      r.body = R"({"error":{"message":"slow down"}})";
    } else {
      r.events = test::chat_events("", "fine");
    }
    return r;
  });
  auto out = complete(config_for(server));
  ASSERT_EQ(out.retries.size(), 2u);
  EXPECT_NE(out.retries[0].find("HTTP 429"), std::string::npos) << out.retries[0];
  EXPECT_NE(out.retries[0].find("slow down"), std::string::npos) << out.retries[0];
  EXPECT_NE(out.retries[1].find("HTTP 503"), std::string::npos) << out.retries[1];
  EXPECT_EQ(out.completion.content, "fine");
}

TEST(OpenAiBackend, ClientErrorsAreNotRetried) {
  MockServer server([&](const std::string&, const json&) {
    MockReply r;
    r.status = 401;
    r.body = R"J({"error":{"message":"Authentication Fails (no such api key)"}})J";
    return r;
  });
  try {
    complete(config_for(server));
    FAIL() << "expected BackendError";
  } catch (const BackendError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("HTTP 401"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Authentication Fails"), std::string::npos) << msg;
    EXPECT_NE(msg.find("API key"), std::string::npos) << msg;
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(OpenAiBackend, GivesUpAfterMaxAttempts) {
  MockServer server([&](const std::string&, const json&) {
    MockReply r;
    r.events = test::chat_events("", "never finishes");
    r.drop_after = 1;
    return r;
  });
  auto cfg = config_for(server);
  try {
    complete(cfg);
    FAIL() << "expected BackendError";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("giving up after 3 attempts"), std::string::npos) << e.what();
  }
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(OpenAiBackend, RefusedConnectionIsAClearError) {
  BackendConfig cfg;
  {
    MockServer server([](const std::string&, const json&) { return MockReply{}; });
    cfg = config_for(server);
  }  // closed: nothing listens on that port now
  cfg.max_attempts = 2;
  try {
    complete(cfg);
    FAIL() << "expected BackendError";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("connecting to 127.0.0.1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace whalebox::agent
