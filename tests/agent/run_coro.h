#pragma once
// Runs one awaitable to completion on a fresh io_context and returns its value (or rethrows).
#include <boost/asio.hpp>
#include <exception>
#include <optional>

namespace whalebox::agent::test {

template <class T>
T run_coro(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  std::optional<T> value;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value = std::move(v);
  });
  io.run();
  io.restart();
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

}  // namespace whalebox::agent::test
