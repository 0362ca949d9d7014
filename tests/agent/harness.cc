#include "tests/agent/harness.h"

#include <fstream>
#include <sstream>

#include <future>

namespace whalebox::agent::test {

namespace asio = boost::asio;

std::string temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/whalebox-test-" + tag + "-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

template <class T>
T Harness::wait(asio::awaitable<T> aw) {
  std::promise<T> p;
  asio::co_spawn(io, std::move(aw), [&p](std::exception_ptr e, T v) {
    if (e) p.set_exception(e);
    else p.set_value(std::move(v));
  });
  return p.get_future().get();
}

Harness::Harness() {
  guard_.emplace(io.get_executor());
  thread_ = std::thread([this] { io.run(); });
  cfg.approve = "auto";
  cfg.limits.max_turns = 10;
  cfg.limits.wall_seconds = 60;
  cfg.limits.tool_timeout_seconds = 20;
}

Harness::~Harness() {
  if (box) {
    std::promise<void> gone;
    asio::post(io, [&] { box->destroy([&gone](sandbox::Status) { gone.set_value(); }); });
    gone.get_future().wait_for(std::chrono::seconds(10));
  }
  guard_.reset();
  io.stop();
  thread_.join();
  std::error_code ec;
  if (!workspace.empty()) std::filesystem::remove_all(workspace, ec);
}

std::string Harness::start() {
  // (sandbox::probe() is not called here: it may change this process, and creating the
  // sandbox reports the same reasons.)
  workspace = temp_dir("ws");
  sandboxes_ = sandbox::make_process_backend(io.get_executor());
  try {
    box = wait(open_sandbox(*sandboxes_, workspace));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TaskResult Harness::run(Backend& backend, const std::string& prompt) { return run_tasks(backend, {prompt}).front(); }

std::vector<TaskResult> Harness::run_tasks(Backend& backend, const std::vector<std::string>& prompts) {
  Session session(backend, *box, tools_named(cfg.tools), cfg, [this](const json& e) { events.push_back(e); });
  std::vector<TaskResult> out;
  for (const auto& p : prompts) out.push_back(wait(session.run_task(p)));
  messages = session.messages();
  return out;
}

TaskResult Harness::run_and_cancel(Backend& backend, const std::string& prompt, std::chrono::milliseconds after,
                                   const std::string& on) {
  asio::steady_timer timer(io);
  Session* live = nullptr;
  Session session(backend, *box, tools_named(cfg.tools), cfg, [&](const json& e) {
    events.push_back(e);
    if (e["type"] == on && live) {
      live = nullptr;
      timer.expires_after(after);
      timer.async_wait([&session](boost::system::error_code ec) {
        if (!ec) session.cancel();
      });
    }
  });
  live = &session;
  return wait(session.run_task(prompt));
}

std::vector<json> Harness::of_type(const std::string& type) const {
  std::vector<json> out;
  for (const auto& e : events)
    if (e["type"] == type) out.push_back(e);
  return out;
}

std::string Harness::read_workspace_file(const std::string& name) const {
  std::ifstream in(workspace + "/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace whalebox::agent::test
