#pragma once
// A minimal streaming HTTP/1.1 POST client on Boost.Beast (plain TCP or TLS via OpenSSL): the
// response body is handed over chunk by chunk as it arrives, which is what SSE streaming needs.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/cancel.h"

namespace whalebox::agent {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;  // starts with '/'
};

// Parses http://host[:port][/path] and https://…; throws std::invalid_argument with the reason.
Url parse_url(std::string_view text);

// A transport failure (refused, reset, dropped mid-response, timed out): worth retrying.
struct HttpError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HttpResult {
  int status = 0;
  std::string error_body;  // the body (first 64 KiB) when status is not 2xx
};

struct HttpRequest {
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{300000};  // longest silence between two reads
};

// POSTs the request; for a 2xx answer every body chunk goes to on_data as it arrives. Throws
// HttpError on transport failures and Cancelled when `cancel` fires.
boost::asio::awaitable<HttpResult> http_post(const HttpRequest& req,
                                             const std::function<void(std::string_view)>& on_data,
                                             Cancel& cancel);

}  // namespace whalebox::agent
