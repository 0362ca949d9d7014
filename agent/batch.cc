#include "agent/batch.h"

#include <unistd.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "agent/backend_embedded.h"
#include "agent/backend_factory.h"
#include "agent/interrupts.h"
#include "agent/jsonl_log.h"
#include "agent/progress_bar.h"
#include "agent/session.h"
#include "agent/workspace_sandbox.h"

namespace whalebox::agent {

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

struct Task {
  std::string id;
  std::string prompt;
  std::string workspace;  // empty: a fresh directory under the workspaces folder
  int max_turns = 0;
};

std::vector<Task> read_tasks(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read tasks file " + path);
  std::vector<Task> tasks;
  std::set<std::string> seen;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = path + ":" + std::to_string(n) + ": ";
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) throw std::invalid_argument(where + "not a JSON object");
    Task t;
    if (j.contains("id") && j["id"].is_string()) t.id = j["id"];
    else if (j.contains("id") && j["id"].is_number_integer()) t.id = std::to_string(j["id"].get<long>());
    else throw std::invalid_argument(where + "needs an \"id\" (string or integer)");
    if (!j.contains("prompt") || !j["prompt"].is_string()) throw std::invalid_argument(where + "needs a \"prompt\" string");
    t.prompt = j["prompt"];
    if (j.contains("workspace")) t.workspace = j.value("workspace", "");
    if (j.contains("max_turns")) t.max_turns = j.value("max_turns", 0);
    if (!seen.insert(t.id).second) throw std::invalid_argument(where + "duplicate id \"" + t.id + "\"");
    tasks.push_back(std::move(t));
  }
  return tasks;
}

// A directory name from a task id: anything unusual becomes '_', plus a hash to keep ids apart.
std::string dir_name(const std::string& id) {
  std::string s;
  for (char c : id) s += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  if (s.size() > 64) s.resize(64);
  return s + "-" + std::to_string(std::hash<std::string>{}(id) % 100000);
}

class Batch {
 public:
  Batch(const BatchOptions& o, std::vector<Task> tasks, JsonlLog& results, JsonlLog& trajectories)
      : o_(o), tasks_(std::move(tasks)), results_(results), trajectories_(trajectories) {
    for (size_t i = 0; i < tasks_.size(); ++i)
      if (!results_.ids().count(tasks_[i].id)) pending_.push_back(i);
    done_ = tasks_.size() - pending_.size();
  }

  int run() {
    asio::io_context io;
    sandboxes_ = sandbox::make_process_backend(io.get_executor());
    // One embedded engine serves every task: the model is loaded once, its turns run one at a
    // time on its thread (each uses every core), and a new task starts from the cached state of
    // the shared system prompt. Server backends stay one per task.
    std::unique_ptr<Backend> shared;
    BackendConfig bc = o_.cfg.backend;
    choose_backend(bc);
    if (bc.kind == "embedded") {
      try {
        shared = make_embedded_backend(bc, std::max<size_t>(4, size_t(o_.concurrency)));
      } catch (const std::exception& e) {
        std::cerr << "whalebox batch: " << e.what() << "\n";
        return 1;
      }
    }
    shared_backend_ = shared.get();
    if (isatty(STDERR_FILENO)) bar_ = std::make_unique<ProgressBar>(stderr, tasks_.size(), done_);
    Interrupts interrupts(io, [this] { stop(); }, [this] { stop(); });
    asio::steady_timer tick(io);
    redraw();
    size_t workers = std::min<size_t>(std::max(1, o_.concurrency), pending_.size());
    live_workers_ = workers;
    for (size_t w = 0; w < workers; ++w)
      asio::co_spawn(io, worker(), [&, this](std::exception_ptr e) {
        if (e) try { std::rethrow_exception(e); } catch (const std::exception& ex) { fatal_ = ex.what(); stop(); }
        if (--live_workers_ == 0) io.stop();  // the signal set and the ticker would keep run() going
      });
    if (workers > 0) {
      if (bar_) tick_loop(tick);
      io.run();
    }
    if (bar_) bar_->finish();
    if (!fatal_.empty()) {
      std::cerr << "whalebox batch: " << fatal_ << "\n";
      return 1;
    }
    if (stopping_) {
      std::cerr << "whalebox batch: interrupted; " << done_ << "/" << tasks_.size()
                << " tasks recorded, run again to finish\n";
      return 130;
    }
    std::cerr << "whalebox batch: " << done_ << " tasks recorded (" << failed_ << " not done) in " << o_.out << "\n";
    return 0;
  }

 private:
  void stop() {
    stopping_ = true;
    for (auto* s : live_sessions_) s->cancel();
  }

  void redraw() {
    if (bar_) bar_->update(done_, failed_, running_);
  }

  void tick_loop(asio::steady_timer& tick) {
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([this, &tick](boost::system::error_code ec) {
      if (ec) return;
      redraw();
      tick_loop(tick);
    });
  }

  asio::awaitable<void> worker() {
    while (!stopping_ && next_ < pending_.size()) {
      const Task& t = tasks_[pending_[next_++]];
      ++running_;
      redraw();
      co_await run_task(t);
      --running_;
      redraw();
    }
  }

  asio::awaitable<void> run_task(const Task& t) {
    AgentConfig cfg = o_.cfg;
    if (t.max_turns > 0) cfg.limits.max_turns = t.max_turns;
    std::string workspace = t.workspace;
    if (workspace.empty()) {
      workspace = (fs::path(o_.workspaces) / dir_name(t.id)).string();
      fs::remove_all(workspace);  // left by an interrupted earlier run
      fs::create_directories(workspace);
    }
    json events = json::array();
    auto t0 = std::chrono::steady_clock::now();
    TaskResult result;
    json messages = json::array();
    // A backend or sandbox that cannot be made is fatal for the batch (every task would fail
    // the same way); what happens inside a task is that task's result.
    std::unique_ptr<Backend> own;
    Backend* backend = shared_backend_;
    if (!backend) backend = (own = make_backend(cfg.backend)).get();
    auto box = co_await open_sandbox(*sandboxes_, workspace);
    {
      Session session(*backend, *box, tools_named(cfg.tools), cfg, [&](const json& e) {
        const std::string type = e.value("type", "");
        if (type != "reasoning" && type != "content") events.push_back(e);  // deltas are in "assistant"
      });
      live_sessions_.insert(&session);
      result = co_await session.run_task(t.prompt);
      live_sessions_.erase(&session);
      messages = session.messages();
    }
    co_await close_sandbox(*box);
    if (stopping_ && result.status == "cancelled") co_return;  // not finished: runs again next time
    result.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    json line = result.to_json();
    line["id"] = t.id;
    line["workspace"] = workspace;
    // Trajectory first: a result line is the mark that the task is complete.
    trajectories_.append({{"id", t.id}, {"messages", messages}, {"events", events}});
    results_.append(line);
    ++done_;
    if (result.status != "done") ++failed_;
  }

  const BatchOptions& o_;
  std::vector<Task> tasks_;
  JsonlLog& results_;
  JsonlLog& trajectories_;
  std::vector<size_t> pending_;
  size_t next_ = 0, done_ = 0, failed_ = 0, running_ = 0, live_workers_ = 0;
  bool stopping_ = false;
  std::string fatal_;
  std::unique_ptr<sandbox::Backend> sandboxes_;
  Backend* shared_backend_ = nullptr;  // the embedded engine, when the batch runs on it
  std::unique_ptr<ProgressBar> bar_;
  std::set<Session*> live_sessions_;
};

}  // namespace

int run_batch(const BatchOptions& in) {
  BatchOptions o = in;
  if (o.concurrency < 1) throw std::invalid_argument("--concurrency must be at least 1");
  if (o.trajectories.empty()) o.trajectories = o.out + ".trajectories.jsonl";
  if (o.workspaces.empty()) o.workspaces = o.out + ".workspaces";
  o.cfg.approve = o.cfg.approve == "read-only" ? "read-only" : "auto";
  auto tasks = read_tasks(o.tasks_file);
  JsonlLog results(o.out);
  JsonlLog trajectories(o.trajectories, [&](const nlohmann::json& j) { return results.ids().count(j["id"]) > 0; });
  if (results.dropped() || trajectories.dropped())
    std::cerr << "whalebox batch: recovered " << o.out << " (dropped " << results.dropped()
              << " torn or repeated result lines, " << trajectories.dropped() << " trajectory lines)\n";
  Batch batch(o, std::move(tasks), results, trajectories);
  return batch.run();
}

}  // namespace whalebox::agent
