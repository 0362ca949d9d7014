// `whalebox bench agent`: what the runtime adds to one tool-call round trip — model output
// parsed (replay backend, DSML text) → call validated → executed in a live sandbox (`true`) →
// result appended and the next prompt rendered — measured against the sandbox exec of `true`
// alone, in the same run on the same sandbox.
#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "agent/backend_completions.h"
#include "agent/backend_replay.h"
#include "agent/sandbox_await.h"
#include "agent/session.h"
#include "agent/workspace_sandbox.h"
#include "bench/bench.h"

namespace whalebox::bench {

namespace {

namespace asio = boost::asio;
using agent::json;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// Renders the prompt before each completion, as the completions and embedded backends do.
class RenderingReplay : public agent::Backend {
 public:
  explicit RenderingReplay(std::unique_ptr<agent::Backend> inner) : inner_(std::move(inner)) {}
  asio::awaitable<agent::Completion> complete(const agent::ModelRequest& r, const agent::StreamHandler& on,
                                              agent::Cancel& cancel) override {
    prompt_bytes += agent::render_prompt(r.messages, r.tools, r.thinking).size();
    co_return co_await inner_->complete(r, on, cancel);
  }
  size_t prompt_bytes = 0;

 private:
  std::unique_ptr<agent::Backend> inner_;
};

constexpr const char* kCompletion =
    "Run it.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"bash\">\n"
    "<｜DSML｜parameter name=\"command\" string=\"true\">true</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>";

}  // namespace

int run_agent(const std::vector<std::string>& args) {
  int iterations = 300;
  int turns_per_task = 20;  // the conversation (and the rendered prompt) restarts every 20 calls
  for (size_t i = 0; i < args.size(); i += 2) {
    if (args[i] == "--iterations" && i + 1 < args.size()) {
      iterations = std::max(10, std::stoi(args[i + 1]));
    } else {
      std::cerr << "bench agent: unknown argument " << args[i] << " (see whalebox bench agent --help)\n";
      return 2;
    }
  }
  std::string workspace = agent::fresh_workspace_dir();
  asio::io_context io;
  auto sandboxes = sandbox::make_process_backend(io.get_executor());
  agent::AgentConfig cfg;
  cfg.approve = "auto";
  cfg.limits.max_turns = turns_per_task;

  std::vector<double> round_trips, execs;
  std::string failure;
  size_t prompt_bytes = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto box = co_await agent::open_sandbox(*sandboxes, workspace);
    // The exec alone, in slices between the agent's tasks so both see the same machine load.
    auto exec_alone = [&](int n, bool keep) -> asio::awaitable<void> {
      for (int i = 0; i < n; ++i) {
        sandbox::ExecRequest req;
        req.shell = "true";
        auto t0 = Clock::now();
        auto r = co_await agent::exec(*box, std::move(req));
        if (!r.status.ok() || r.exit_code != 0) throw std::runtime_error("exec of true failed: " + r.status.error);
        if (keep) execs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    };
    co_await exec_alone(20, false);  // warm-up
    RenderingReplay backend(agent::make_replay_backend({json{{"text", kCompletion}}}, true));
    Clock::time_point last;
    bool have_last = false;
    while (static_cast<int>(round_trips.size()) < iterations) {
      agent::Session session(backend, *box, agent::builtin_tools(), cfg, [&](const json& e) {
        if (e["type"] == "turn") {
          auto now = Clock::now();
          if (have_last) round_trips.push_back(std::chrono::duration<double, std::milli>(now - last).count());
          last = now;
          have_last = true;
        }
        if (e["type"] == "tool_result" && !e["ok"].get<bool>()) failure = "tool call failed: " + e["text"].get<std::string>();
      });
      auto result = co_await session.run_task("run true repeatedly");
      co_await exec_alone(turns_per_task - 1, true);
      have_last = false;  // the gap between tasks is not a round trip
      if (!failure.empty()) throw std::runtime_error(failure);
      if (result.status != "max_turns") throw std::runtime_error("unexpected end: " + result.status + " " + result.error);
    }
    prompt_bytes = backend.prompt_bytes;
    co_await agent::close_sandbox(*box);
  }, [&](std::exception_ptr e) {
    if (e) try { std::rethrow_exception(e); } catch (const std::exception& ex) { failure = ex.what(); }
  });
  io.run();
  std::error_code ec;
  std::filesystem::remove_all(workspace, ec);
  if (!failure.empty()) {
    std::cerr << "bench agent: " << failure << "\n";
    return 1;
  }
  double rt50 = percentile(round_trips, 0.5), rt99 = percentile(round_trips, 0.99);
  double ex50 = percentile(execs, 0.5), ex99 = percentile(execs, 0.99);
  json out = {{"bench", "agent"},
              {"round_trips", round_trips.size()},
              {"round_trip_p50_ms", rt50},
              {"round_trip_p99_ms", rt99},
              {"exec_alone_p50_ms", ex50},
              {"exec_alone_p99_ms", ex99},
              {"overhead_p50_ms", rt50 - ex50},
              {"overhead_p99_ms", rt99 - ex99},
              {"target_overhead_p50_ms", 2.0},
              {"round_trip_over_exec_p50", ex50 > 0 ? rt50 / ex50 : 0},
              {"mean_prompt_bytes_rendered", prompt_bytes / std::max<size_t>(1, round_trips.size())}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace whalebox::bench
