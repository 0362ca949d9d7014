// read_file, write_file, edit_file, list_dir: through the sandbox's file API, which resolves
// every path beneath the workspace (no `..` above it, no symlink out of it).
#include <algorithm>

#include "agent/output_cap.h"
#include "agent/sandbox_await.h"
#include "agent/tools.h"

namespace whalebox::agent {

namespace {

using boost::asio::awaitable;
using dsml::Json;

constexpr uint64_t kMaxFileBytes = 8 * sandbox::MiB;

// The model may name files as "src/a.c", "./src/a.c" or "/workspace/src/a.c"; the file API wants
// them relative to the workspace. Empty result + `error` set when the path points elsewhere.
std::string workspace_relative(const ToolContext& ctx, std::string path, std::string& error) {
  const std::string& mount = ctx.box.spec().workspace_mount;
  if (path == mount) return ".";
  if (path.starts_with(mount + "/")) path = path.substr(mount.size() + 1);
  else if (path.starts_with("/")) {
    error = "'" + path + "' is outside the workspace (" + mount + "); file tools work on workspace paths only";
    return "";
  }
  while (path.starts_with("./")) path = path.substr(2);
  return path.empty() ? "." : path;
}

awaitable<ToolResult> run_read_file(const Json& args, ToolContext& ctx) {
  std::string error;
  std::string path = workspace_relative(ctx, args.at("path").get<std::string>(), error);
  if (path.empty()) co_return ToolResult{error, true};
  long offset = std::max(1L, args.value("offset", 1L));
  long limit = std::max(1L, args.value("limit", 2000L));
  auto [st, data] = co_await get_file(ctx.box, path, kMaxFileBytes + 1);
  if (!st.ok()) co_return ToolResult{st.error, true};
  bool whole = data.size() <= kMaxFileBytes;
  if (!whole) data.resize(kMaxFileBytes);

  size_t begin = 0;
  long line = 1;
  for (; line < offset && begin < data.size(); ++line) {
    size_t nl = data.find('\n', begin);
    begin = nl == std::string::npos ? data.size() : nl + 1;
  }
  if (begin >= data.size() && !(data.empty() && offset == 1))
    co_return ToolResult{"the file has fewer than " + std::to_string(offset) + " lines", true};
  size_t end = begin;
  long shown = 0;
  for (; shown < limit && end < data.size(); ++shown) {
    size_t nl = data.find('\n', end);
    end = nl == std::string::npos ? data.size() : nl + 1;
  }
  std::string text = cap_output(valid_utf8(std::string_view(data).substr(begin, end - begin)),
                                ctx.limits.output_cap_bytes);
  if (end < data.size() || !whole) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += "[… the file continues after line " + std::to_string(offset + shown - 1) +
            "; read on with offset=" + std::to_string(offset + shown) + "]";
  }
  co_return ToolResult{text};
}

// put_file, creating missing parent directories inside the sandbox when needed.
awaitable<sandbox::Status> write_creating_dirs(ToolContext& ctx, const std::string& path, const std::string& data,
                                               uint32_t mode) {
  auto st = co_await put_file(ctx.box, path, data, mode);
  if (st.ok() || path.find('/') == std::string::npos) co_return st;
  sandbox::ExecRequest mk;
  mk.argv = {"mkdir", "-p", "--", path.substr(0, path.rfind('/'))};
  mk.timeout = std::chrono::seconds(10);
  auto r = co_await exec(ctx.box, std::move(mk));
  if (!r.status.ok() || r.exit_code != 0) co_return st;
  co_return co_await put_file(ctx.box, path, data, mode);
}

awaitable<ToolResult> run_write_file(const Json& args, ToolContext& ctx) {
  std::string error;
  std::string path = workspace_relative(ctx, args.at("path").get<std::string>(), error);
  if (path.empty()) co_return ToolResult{error, true};
  std::string content = args.at("content").get<std::string>();
  auto st = co_await write_creating_dirs(ctx, path, content, 0644);
  if (!st.ok()) co_return ToolResult{st.error, true};
  co_return ToolResult{"wrote " + std::to_string(content.size()) + " bytes to " + path};
}

size_t count_occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// The mode of an existing file, so an edit keeps it executable.
awaitable<uint32_t> file_mode(ToolContext& ctx, const std::string& path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  auto [st, entries] = co_await list(ctx.box, dir);
  for (const auto& e : entries)
    if (e.name == name && e.mode) co_return e.mode & 07777;
  co_return 0644;
}

awaitable<ToolResult> run_edit_file(const Json& args, ToolContext& ctx) {
  std::string error;
  std::string path = workspace_relative(ctx, args.at("path").get<std::string>(), error);
  if (path.empty()) co_return ToolResult{error, true};
  auto [st, text] = co_await get_file(ctx.box, path, kMaxFileBytes + 1);
  if (!st.ok()) co_return ToolResult{st.error, true};
  if (text.size() > kMaxFileBytes) co_return ToolResult{"the file is larger than 8 MiB; edit it with bash", true};
  const Json& edits = args.at("edits");
  if (edits.empty()) co_return ToolResult{"no edits given", true};
  for (size_t i = 0; i < edits.size(); ++i) {
    std::string old_text = edits[i].at("old").get<std::string>();
    std::string new_text = edits[i].at("new").get<std::string>();
    std::string which = "edit " + std::to_string(i + 1) + ": ";
    if (old_text.empty()) co_return ToolResult{which + "`old` is empty; nothing was changed", true};
    size_t n = count_occurrences(text, old_text);
    if (n != 1)
      co_return ToolResult{which + "`old` occurs " + std::to_string(n) +
                               " times in the file (it must occur exactly once; add surrounding lines "
                               "to make it unique); nothing was changed",
                           true};
    text.replace(text.find(old_text), old_text.size(), new_text);
  }
  uint32_t mode = co_await file_mode(ctx, path);
  auto wst = co_await put_file(ctx.box, path, text, mode);
  if (!wst.ok()) co_return ToolResult{wst.error, true};
  co_return ToolResult{"applied " + std::to_string(edits.size()) + " edit(s) to " + path};
}

awaitable<ToolResult> run_list_dir(const Json& args, ToolContext& ctx) {
  std::string error;
  std::string path = workspace_relative(ctx, args.value("path", std::string(".")), error);
  if (path.empty()) co_return ToolResult{error, true};
  auto [st, entries] = co_await list(ctx.box, path);
  if (!st.ok()) co_return ToolResult{st.error, true};
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::string text;
  for (const auto& e : entries) {
    using T = sandbox::DirEntry::Type;
    text += e.name;
    if (e.type == T::dir) text += "/";
    else if (e.type == T::symlink) text += "@";
    else if (e.type == T::file) text += "  " + std::to_string(e.size);
    text += "\n";
  }
  if (entries.empty()) text = "(empty directory)";
  co_return ToolResult{cap_output(valid_utf8(text), ctx.limits.output_cap_bytes)};
}

}  // namespace

void add_file_tools(ToolRegistry& r) {
  r.add({"read_file",
         "Read a text file of the workspace. Returns lines offset..offset+limit-1 (1-based); "
         "long output is cut and says where to continue.",
         Json::parse(R"J({"type": "object", "properties": {
             "path": {"type": "string"},
             "offset": {"type": "integer", "description": "First line, 1-based (default 1)"},
             "limit": {"type": "integer", "description": "Number of lines (default 2000)"}},
           "required": ["path"]})J"),
         true, run_read_file});
  r.add({"write_file", "Create or overwrite a file of the workspace with the given content.",
         Json::parse(R"J({"type": "object", "properties": {
             "path": {"type": "string"}, "content": {"type": "string"}},
           "required": ["path", "content"]})J"),
         false, run_write_file});
  r.add({"edit_file",
         "Edit a file by exact replacement: each edit's `old` text must occur exactly once in the "
         "file and is replaced by `new`. Edits apply in order; if one fails, none is written.",
         Json::parse(R"J({"type": "object", "properties": {
             "path": {"type": "string"},
             "edits": {"type": "array", "items": {"type": "object", "properties": {
                 "old": {"type": "string"}, "new": {"type": "string"}}, "required": ["old", "new"]}}},
           "required": ["path", "edits"]})J"),
         false, run_edit_file});
  r.add({"list_dir", "List a workspace directory: directories end in /, symlinks in @, files show their size.",
         Json::parse(R"J({"type": "object", "properties": {"path": {"type": "string", "description": "Default: the workspace root"}}})J"),
         true, run_list_dir});
}

}  // namespace whalebox::agent
