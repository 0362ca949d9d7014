// search: regular-expression search over the workspace, run as grep inside the sandbox (the
// pattern and path travel in the environment, never spliced into the shell text).
#include <boost/asio/use_awaitable.hpp>

#include "agent/output_cap.h"
#include "agent/sandbox_await.h"
#include "agent/tools.h"

namespace whalebox::agent {

namespace {

using boost::asio::awaitable;
using dsml::Json;

awaitable<ToolResult> run_search(const Json& args, ToolContext& ctx) {
  std::string pattern = args.at("pattern").get<std::string>();
  std::string path = args.value("path", std::string("."));
  std::string glob = args.value("glob", std::string());
  long max_results = std::clamp(args.value("max_results", 100L), 1L, 10000L);
  sandbox::ExecRequest req;
  req.shell = glob.empty() ? "exec grep -rnIE -e \"$P\" -- \"$D\""
                           : "exec grep -rnIE --include=\"$G\" -e \"$P\" -- \"$D\"";
  req.env = {"P=" + pattern, "D=" + path, "G=" + glob, "LC_ALL=C.UTF-8"};
  req.timeout = std::chrono::milliseconds(static_cast<long>(ctx.limits.tool_timeout_seconds * 1000));
  req.max_stdout = std::max<uint64_t>(4 * ctx.limits.output_cap_bytes, 65536);
  auto r = co_await exec(ctx.box, std::move(req), ctx.cancel);
  if (!r.status.ok()) co_return ToolResult{r.status.error, true};
  if (r.timed_out) co_return ToolResult{"the search timed out", true};
  if (r.exit_code == 1) co_return ToolResult{"no matches"};
  if (r.exit_code != 0) co_return ToolResult{"search failed: " + valid_utf8(r.stderr_data), true};

  std::string text;
  long lines = 0;
  size_t at = 0;
  while (at < r.stdout_data.size() && lines < max_results) {
    size_t nl = r.stdout_data.find('\n', at);
    size_t end = nl == std::string::npos ? r.stdout_data.size() : nl + 1;
    text.append(r.stdout_data, at, end - at);
    at = end;
    ++lines;
  }
  text = cap_output(valid_utf8(text), ctx.limits.output_cap_bytes);
  if (at < r.stdout_data.size() || r.stdout_dropped)
    text += "[… more matches not shown; narrow the pattern or the path]";
  co_return ToolResult{text};
}

}  // namespace

void add_search_tool(ToolRegistry& r) {
  r.add({"search",
         "Search the workspace for a regular expression (POSIX extended, like grep -E). "
         "Returns file:line:text for each matching line.",
         Json::parse(R"J({"type": "object", "properties": {
             "pattern": {"type": "string"},
             "path": {"type": "string", "description": "File or directory to search (default: the workspace)"},
             "glob": {"type": "string", "description": "Only files whose name matches, e.g. *.py"},
             "max_results": {"type": "integer", "description": "Default 100"}},
           "required": ["pattern"]})J"),
         true, run_search});
}

}  // namespace whalebox::agent
