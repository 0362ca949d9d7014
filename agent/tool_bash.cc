// bash: run a shell command in the sandbox (foreground with a timeout, or as a background job);
// bash_status / bash_stop: inspect and end background jobs. Jobs keep their state in the
// sandbox's own /tmp, so nothing of theirs lands in the workspace or on the host.
#include <boost/asio/use_awaitable.hpp>

#include "agent/output_cap.h"
#include "agent/sandbox_await.h"
#include "agent/tools.h"

namespace whalebox::agent {

namespace {

using boost::asio::awaitable;
using dsml::Json;

constexpr const char* kJobDir = "/tmp/.whalebox-jobs";

std::string describe_end(const sandbox::ExecResult& r, double timeout_s) {
  if (r.timed_out) return "[timed out after " + std::to_string(static_cast<long>(timeout_s)) + " s; killed]";
  if (r.oom_killed) return "[killed: out of memory]";
  if (r.signal) return "[killed by signal " + std::to_string(r.signal) + "]";
  return "[exit code " + std::to_string(r.exit_code) + "]";
}

// stdout, stderr (marked), then how it ended; capped for the model.
std::string format_exec(const sandbox::ExecResult& r, double timeout_s, size_t cap) {
  std::string text = r.stdout_data;
  if (!r.stderr_data.empty()) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += "[stderr]\n" + r.stderr_data;
  }
  text = cap_output(valid_utf8(text), cap);
  if (!text.empty() && text.back() != '\n') text += '\n';
  if (r.truncated())
    text += "[" + std::to_string(r.stdout_dropped + r.stderr_dropped) + " more bytes of output were dropped]\n";
  return text + describe_end(r, timeout_s);
}

// Runs a short helper script with its inputs in the environment (never spliced into the text).
awaitable<sandbox::ExecResult> run_script(ToolContext& ctx, std::string script, std::vector<std::string> env,
                                          std::chrono::milliseconds timeout) {
  sandbox::ExecRequest req;
  req.shell = std::move(script);
  req.env = std::move(env);
  req.timeout = timeout;
  req.max_stdout = req.max_stderr = std::max<uint64_t>(4 * ctx.limits.output_cap_bytes, 65536);
  co_return co_await exec(ctx.box, std::move(req), ctx.cancel);
}

awaitable<ToolResult> run_bash(const Json& args, ToolContext& ctx) {
  std::string command = args.at("command").get<std::string>();
  double timeout_s = ctx.limits.tool_timeout_seconds;
  if (auto t = args.find("timeout"); t != args.end() && t->is_number() && t->get<double>() > 0)
    timeout_s = std::min(timeout_s, t->get<double>());
  auto timeout = std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));

  if (args.value("background", false)) {
    int job = ctx.next_job++;
    std::string script = std::string("d=") + kJobDir + "; n=" + std::to_string(job) +
                         "; mkdir -p $d || exit 1; setsid sh -c 'eval \"$WHALEBOX_JOB\"; echo \"exit code $?\" > " + kJobDir + "/" +
                         std::to_string(job) + ".exit' > $d/$n.out 2>&1 < /dev/null & echo $! > $d/$n.pid";
    std::vector<std::string> env{"WHALEBOX_JOB=" + command};  // (a braced list inside co_await trips GCC 12)
    auto r = co_await run_script(ctx, script, std::move(env), std::chrono::seconds(10));
    if (!r.status.ok()) co_return ToolResult{"could not start the job: " + r.status.error, true};
    if (r.exit_code != 0) co_return ToolResult{"could not start the job:\n" + format_exec(r, 10, ctx.limits.output_cap_bytes), true};
    co_return ToolResult{"started background job " + std::to_string(job) +
                         "; use bash_status to see its output, bash_stop to end it"};
  }

  auto r = co_await run_script(ctx, std::move(command), std::vector<std::string>(), timeout);
  if (ctx.cancel.fired()) co_return ToolResult{"[cancelled by the user]", true};
  if (!r.status.ok()) co_return ToolResult{"could not run the command: " + r.status.error, true};
  bool failed = r.timed_out || r.signal || r.exit_code != 0;
  co_return ToolResult{format_exec(r, timeout_s, ctx.limits.output_cap_bytes), failed};
}

awaitable<ToolResult> run_bash_status(const Json& args, ToolContext& ctx) {
  std::string n = std::to_string(args.at("job").get<long>());
  std::string script = std::string("d=") + kJobDir + "; n=" + n +
                       "; [ -f $d/$n.pid ] || { echo \"no background job $n\"; exit 3; }\n"
                       "if [ -f $d/$n.exit ]; then echo \"[job $n ended: $(cat $d/$n.exit)]\";\n"
                       "elif kill -0 $(cat $d/$n.pid) 2>/dev/null; then echo \"[job $n is running]\";\n"
                       "else echo \"[job $n ended]\"; fi\n"
                       "tail -c " + std::to_string(ctx.limits.output_cap_bytes) + " $d/$n.out";
  auto r = co_await run_script(ctx, script, std::vector<std::string>(), std::chrono::seconds(10));
  if (!r.status.ok()) co_return ToolResult{r.status.error, true};
  co_return ToolResult{cap_output(valid_utf8(r.stdout_data), ctx.limits.output_cap_bytes), r.exit_code != 0};
}

awaitable<ToolResult> run_bash_stop(const Json& args, ToolContext& ctx) {
  std::string n = std::to_string(args.at("job").get<long>());
  std::string script = std::string("d=") + kJobDir + "; n=" + n +
                       "; [ -f $d/$n.pid ] || { echo \"no background job $n\"; exit 3; }\n"
                       "p=$(cat $d/$n.pid); kill -s TERM -$p 2>/dev/null; sleep 0.2; kill -s KILL -$p 2>/dev/null\n"
                       "[ -f $d/$n.exit ] || echo 'stopped by bash_stop' > $d/$n.exit\n"
                       "echo \"[job $n stopped]\"; tail -c 2000 $d/$n.out";
  auto r = co_await run_script(ctx, script, std::vector<std::string>(), std::chrono::seconds(10));
  if (!r.status.ok()) co_return ToolResult{r.status.error, true};
  co_return ToolResult{valid_utf8(r.stdout_data), r.exit_code != 0};
}

}  // namespace

void add_bash_tools(ToolRegistry& r) {
  r.add({"bash",
         "Run a shell command (/bin/sh -c) in the sandbox, with the workspace as the working directory. "
         "Returns stdout, stderr and the exit code. Set background=true for servers and long jobs: "
         "it returns a job number at once.",
         Json::parse(R"J({"type": "object", "properties": {
             "command": {"type": "string", "description": "The shell command"},
             "timeout": {"type": "number", "description": "Seconds before the command is killed"},
             "background": {"type": "boolean", "description": "Run as a background job"}},
           "required": ["command"]})J"),
         false, run_bash});
  r.add({"bash_status", "Show whether a background job is running, its exit code and the tail of its output.",
         Json::parse(R"J({"type": "object", "properties": {"job": {"type": "integer"}}, "required": ["job"]})J"),
         true, run_bash_status});
  r.add({"bash_stop", "Stop a background job (SIGTERM, then SIGKILL) and show the tail of its output.",
         Json::parse(R"J({"type": "object", "properties": {"job": {"type": "integer"}}, "required": ["job"]})J"),
         false, run_bash_stop});
}

}  // namespace whalebox::agent
