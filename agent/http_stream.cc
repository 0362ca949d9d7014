#include "agent/http_stream.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

namespace whalebox::agent {

namespace asio = boost::asio;

namespace {

// "HTTP 401 (Unauthorized) from host/path: <the server's error message>"
std::string describe_status(const HttpRequest& req, const HttpResult& r) {
  std::string msg = "HTTP " + std::to_string(r.status) + " from " + req.url.host + ":" +
                    req.url.port + req.url.path;
  std::string detail = r.error_body;
  auto parsed = nlohmann::json::parse(r.error_body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error")) {
    const auto& e = parsed["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string())
      detail = e["message"].get<std::string>();
    else if (e.is_string())
      detail = e.get<std::string>();
  }
  if (detail.size() > 500) detail = detail.substr(0, 500) + "…";
  if (!detail.empty()) msg += ": " + detail;
  if (r.status == 401 || r.status == 403) msg += " (check the API key environment variable)";
  if (r.status == 404) msg += " (check base_url: it should end in /v1)";
  return msg;
}

bool retryable(int status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace

std::string bearer_from_env(const std::string& env) {
  if (env.empty()) return "";
  const char* key = std::getenv(env.c_str());
  return key && *key ? std::string("Bearer ") + key : "";
}

HttpRequest streaming_request(const BackendConfig& cfg, const std::string& path) {
  HttpRequest req;
  req.url = parse_url(cfg.base_url + path);
  req.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  req.headers.emplace_back("Accept", "text/event-stream");
  if (auto auth = bearer_from_env(cfg.api_key_env); !auth.empty()) req.headers.emplace_back("Authorization", auth);
  return req;
}

RetryPolicy retry_policy(const BackendConfig& cfg) {
  return {cfg.max_attempts, std::chrono::milliseconds(cfg.retry_delay_ms)};
}

asio::awaitable<void> post_streaming(const HttpRequest& req, const RetryPolicy& retry,
                                     const StreamParser& parser, const StreamHandler& on,
                                     Cancel& cancel) {
  auto delay = retry.first_delay;
  std::string why;
  for (int attempt = 1;; ++attempt) {
    parser.reset();
    try {
      HttpResult r = co_await http_post(req, parser.on_data, cancel);
      if (r.status / 100 == 2 && parser.finished()) co_return;
      if (r.status / 100 == 2)
        why = "the server closed the stream before it finished (no [DONE] / finish_reason)";
      else if (retryable(r.status))
        why = describe_status(req, r);
      else
        throw BackendError(describe_status(req, r));
    } catch (const HttpError& e) {
      why = e.what();
    }
    if (attempt >= retry.max_attempts)
      throw BackendError("giving up after " + std::to_string(attempt) + " attempts: " + why);
    if (on.on_retry) on.on_retry(why + "; retrying in " + std::to_string(delay.count()) + " ms");
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    Cancel::Scope stop(cancel, [&] { timer.cancel(); });
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (cancel.fired()) throw Cancelled();
    delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(30));
  }
}

Usage usage_from_json(const json& u) {
  Usage out;
  out.prompt_tokens = u.value("prompt_tokens", 0L);
  out.completion_tokens = u.value("completion_tokens", 0L);
  if (auto d = u.find("prompt_tokens_details"); d != u.end() && d->is_object())
    out.cached_prompt_tokens = d->value("cached_tokens", 0L);
  out.cached_prompt_tokens = u.value("prompt_cache_hit_tokens", out.cached_prompt_tokens);
  return out;
}

}  // namespace whalebox::agent
