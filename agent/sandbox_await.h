#pragma once
// The sandbox's callback API as awaitables, so the event loop reads top to bottom.
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <tuple>

#include "agent/cancel.h"
#include "sandbox/sandbox.h"

namespace whalebox::agent {

// Starts an operation whose callback takes Args..., and resumes the coroutine with them.
template <class... Args, class Start>
boost::asio::awaitable<std::tuple<Args...>> await_callback(Start start) {
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>, void(std::tuple<Args...>)>(
      [start = std::move(start)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([h](Args... args) {
          auto ex = asio::get_associated_executor(*h);
          asio::dispatch(ex, [h, t = std::tuple<Args...>(std::move(args)...)]() mutable {
            std::move (*h)(std::move(t));
          });
        });
      },
      asio::use_awaitable);
}

inline boost::asio::awaitable<sandbox::ExecResult> exec(sandbox::Sandbox& box, sandbox::ExecRequest req) {
  auto [r] = co_await await_callback<sandbox::ExecResult>(
      [&](auto done) { box.exec(std::move(req), {}, std::move(done)); });
  co_return std::move(r);
}

// The same, ended by `cancel` (Ctrl-C): SIGKILL to this command's process group alone, so the
// background jobs that earlier commands started keep running.
inline boost::asio::awaitable<sandbox::ExecResult> exec(sandbox::Sandbox& box, sandbox::ExecRequest req,
                                                        Cancel& cancel) {
  auto handle = std::make_shared<sandbox::CancelHandle>();
  req.cancel = handle;
  Cancel::Scope stop(cancel, [handle] { handle->cancel(); });
  co_return co_await exec(box, std::move(req));
}

inline boost::asio::awaitable<sandbox::Status> put_file(sandbox::Sandbox& box, std::string path,
                                                        std::string data, uint32_t mode = 0644) {
  auto [s] = co_await await_callback<sandbox::Status>(
      [&](auto done) { box.put_file(std::move(path), std::move(data), mode, std::move(done)); });
  co_return std::move(s);
}

inline boost::asio::awaitable<std::tuple<sandbox::Status, std::string>> get_file(
    sandbox::Sandbox& box, std::string path, uint64_t max_bytes) {
  co_return co_await await_callback<sandbox::Status, std::string>(
      [&](auto done) { box.get_file(std::move(path), max_bytes, std::move(done)); });
}

inline boost::asio::awaitable<std::tuple<sandbox::Status, std::vector<sandbox::DirEntry>>> list(
    sandbox::Sandbox& box, std::string path) {
  co_return co_await await_callback<sandbox::Status, std::vector<sandbox::DirEntry>>(
      [&](auto done) { box.list(std::move(path), std::move(done)); });
}

inline boost::asio::awaitable<std::tuple<sandbox::Status, std::shared_ptr<sandbox::Sandbox>>> create(
    sandbox::Backend& backend, sandbox::SandboxSpec spec) {
  co_return co_await await_callback<sandbox::Status, std::shared_ptr<sandbox::Sandbox>>(
      [&](auto done) { backend.create(std::move(spec), std::move(done)); });
}

}  // namespace whalebox::agent
