#include "agent/http_client.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include "agent/backend.h"

namespace whalebox::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

Url parse_url(std::string_view text) {
  Url u;
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    u.tls = true;
    rest = text.substr(8);
  } else {
    throw std::invalid_argument("URL must start with http:// or https://: '" + std::string(text) + "'");
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty()) throw std::invalid_argument("URL has no host: '" + std::string(text) + "'");
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
    if (u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("URL has a bad port: '" + std::string(text) + "'");
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.size() > 2 && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  return u;
}

namespace {

std::string describe(const beast::error_code& ec, const char* stage) {
  return std::string(stage) + ": " + ec.message();
}

// Request/response over an already connected (and, for TLS, handshaken) stream.
template <class Stream>
asio::awaitable<HttpResult> exchange(Stream& stream, const HttpRequest& req,
                                     const std::function<void(std::string_view)>& on_data,
                                     Cancel& cancel) {
  auto& lowest = beast::get_lowest_layer(stream);
  http::request<http::string_body> msg{http::verb::post, req.url.path, 11};
  msg.set(http::field::host, req.url.host);
  msg.set(http::field::user_agent, "whalebox");
  msg.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : req.headers) msg.set(k, v);
  msg.body() = req.body;
  msg.prepare_payload();

  lowest.expires_after(req.idle_timeout);
  auto [wec, wn] = co_await http::async_write(stream, msg, asio::as_tuple(use_awaitable));
  if (cancel.fired()) throw Cancelled();
  if (wec) throw HttpError(describe(wec, "sending the request"));

  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  lowest.expires_after(req.idle_timeout);
  auto [hec, hn] = co_await http::async_read_header(stream, buf, parser, asio::as_tuple(use_awaitable));
  if (cancel.fired()) throw Cancelled();
  if (hec) throw HttpError(describe(hec, "reading the response header"));

  HttpResult result;
  result.status = parser.get().result_int();
  const bool ok = result.status / 100 == 2;
  size_t received = 0;
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    lowest.expires_after(req.idle_timeout);
    auto [ec, n] = co_await http::async_read(stream, buf, parser, asio::as_tuple(use_awaitable));
    if (cancel.fired()) throw Cancelled();
    if (ec == http::error::need_buffer) ec = {};
    size_t got = sizeof chunk - parser.get().body().size;
    received += got;
    if (got) {
      if (ok) on_data(std::string_view(chunk, got));
      else if (result.error_body.size() < 65536) result.error_body.append(chunk, got);
    }
    if (ec == beast::error::timeout)
      throw HttpError("no data from the server for " +
                      std::to_string(req.idle_timeout.count() / 1000) + " s (after " +
                      std::to_string(received) + " body bytes)");
    if (ec)
      throw HttpError("connection lost mid-response after " + std::to_string(received) +
                      " body bytes (" + ec.message() + ")");
  }
  co_return result;
}

asio::ssl::context& tls_context() {
  static asio::ssl::context ctx = [] {
    asio::ssl::context c(asio::ssl::context::tls_client);
    c.set_default_verify_paths();
    c.set_verify_mode(asio::ssl::verify_peer);
    return c;
  }();
  return ctx;
}

asio::awaitable<void> connect(beast::tcp_stream& stream, const tcp::resolver::results_type& endpoints,
                              const HttpRequest& req, Cancel& cancel) {
  stream.expires_after(req.connect_timeout);
  auto [ec, ep] = co_await stream.async_connect(endpoints, asio::as_tuple(use_awaitable));
  if (cancel.fired()) throw Cancelled();
  if (ec) throw HttpError("connecting to " + req.url.host + ":" + req.url.port + ": " + ec.message());
  stream.socket().set_option(tcp::no_delay(true));
}

}  // namespace

asio::awaitable<HttpResult> http_post(const HttpRequest& req,
                                      const std::function<void(std::string_view)>& on_data,
                                      Cancel& cancel) {
  auto ex = co_await asio::this_coro::executor;
  if (cancel.fired()) throw Cancelled();
  tcp::resolver resolver(ex);
  Cancel::Scope stop_resolve(cancel, [&] { resolver.cancel(); });
  auto [rec, endpoints] = co_await resolver.async_resolve(req.url.host, req.url.port,
                                                          asio::as_tuple(use_awaitable));
  if (cancel.fired()) throw Cancelled();
  if (rec) throw HttpError("resolving " + req.url.host + ": " + rec.message());

  if (!req.url.tls) {
    beast::tcp_stream stream(ex);
    Cancel::Scope stop_io(cancel, [&] { stream.cancel(); });
    co_await connect(stream, endpoints, req, cancel);
    co_return co_await exchange(stream, req, on_data, cancel);
  }
  beast::ssl_stream<beast::tcp_stream> stream(ex, tls_context());
  Cancel::Scope stop_io(cancel, [&] { beast::get_lowest_layer(stream).cancel(); });
  co_await connect(beast::get_lowest_layer(stream), endpoints, req, cancel);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), req.url.host.c_str()))
    throw HttpError("TLS: cannot set SNI host name " + req.url.host);
  stream.set_verify_callback(asio::ssl::host_name_verification(req.url.host));
  beast::get_lowest_layer(stream).expires_after(req.connect_timeout);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client,
                                               asio::as_tuple(use_awaitable));
  if (cancel.fired()) throw Cancelled();
  if (hec) throw HttpError("TLS handshake with " + req.url.host + ": " + hec.message());
  co_return co_await exchange(stream, req, on_data, cancel);
}

}  // namespace whalebox::agent
