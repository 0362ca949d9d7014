#pragma once
// A live session for end-to-end tests: a temporary workspace, a real process sandbox, and the
// events the session emits. start() says why when this host cannot make sandboxes.
#include <boost/asio.hpp>
#include <filesystem>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "agent/backend.h"
#include "agent/session.h"
#include "agent/workspace_sandbox.h"
#include "sandbox/sandbox.h"

namespace whalebox::agent::test {

class Harness {
 public:
  Harness();
  ~Harness();
  // Empty on success, else why the sandbox could not be created (tests skip with it).
  std::string start();
  TaskResult run(Backend& backend, const std::string& prompt);
  // Several tasks, one after the other, in one session (as in chat); `messages` keeps the
  // conversation at the end.
  std::vector<TaskResult> run_tasks(Backend& backend, const std::vector<std::string>& prompts);
  // Runs `prompt` and calls session.cancel() `after` the first event of type `on` (tool_call, ...).
  TaskResult run_and_cancel(Backend& backend, const std::string& prompt, std::chrono::milliseconds after,
                            const std::string& on = "tool_call");

  AgentConfig cfg;
  std::vector<json> events;
  json messages;
  std::string workspace;
  // The event loop runs on its own thread (like sandbox/sync.h); tests wait for each task.
  boost::asio::io_context io;
  std::shared_ptr<sandbox::Sandbox> box;

  std::vector<json> of_type(const std::string& type) const;
  std::string read_workspace_file(const std::string& name) const;

 private:
  template <class T>
  T wait(boost::asio::awaitable<T> aw);
  std::unique_ptr<sandbox::Backend> sandboxes_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

// A fresh directory under the test's temp dir.
std::string temp_dir(const std::string& tag);

}  // namespace whalebox::agent::test
