#pragma once
// The request loop shared by the HTTP backends: POST, stream the body to a parser, and retry
// with exponential backoff when the transport fails, the stream ends early, or the server
// answers 429/5xx. Other non-2xx answers become a BackendError carrying the server's message.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string_view>

#include "agent/backend.h"
#include "agent/config.h"
#include "agent/http_client.h"

namespace whalebox::agent {

struct RetryPolicy {
  int max_attempts = 5;
  std::chrono::milliseconds first_delay{500};  // doubled after each failure, capped at 30 s
};

struct StreamParser {
  std::function<void()> reset;                    // before each attempt
  std::function<void(std::string_view)> on_data;  // body bytes
  std::function<bool()> finished;                 // the stream reached its end marker
};

boost::asio::awaitable<void> post_streaming(const HttpRequest& req, const RetryPolicy& retry,
                                            const StreamParser& parser, const StreamHandler& on,
                                            Cancel& cancel);

// The Authorization header value for the API key in environment variable `env`, or "" when the
// variable is empty or unset (local servers need none).
std::string bearer_from_env(const std::string& env);

// A streaming POST to `cfg.base_url + path` with the configured idle timeout and API key, and the
// configured retry policy: what every HTTP backend starts from.
HttpRequest streaming_request(const BackendConfig& cfg, const std::string& path);
RetryPolicy retry_policy(const BackendConfig& cfg);

// A server's "usage" object: prompt/completion tokens, and the cached part of the prompt where
// the server reports it (DeepSeek: prompt_cache_hit_tokens; OpenAI, vLLM:
// prompt_tokens_details.cached_tokens).
Usage usage_from_json(const json& u);

}  // namespace whalebox::agent
