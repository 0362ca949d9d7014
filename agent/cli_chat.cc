// `whalebox chat`: an interactive shell over one session. Streams reasoning (dimmed) and answers,
// shows tool calls compactly, asks before calls that change things (--approve ask|auto|read-only),
// slash commands, libedit line editing and history. With stdin not a terminal it reads one
// request per line and, in ask mode, refuses calls that would need an answer.
#include <unistd.h>

#include <boost/asio.hpp>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>

#include "agent/backend_factory.h"
#include "agent/cli.h"
#include "agent/cli_options.h"
#include "agent/event_printer.h"
#include "agent/interrupts.h"
#include "agent/line_reader.h"
#include "agent/session.h"
#include "agent/workspace_sandbox.h"

namespace whalebox::agent {

namespace {

namespace asio = boost::asio;

struct ChatOptions {
  std::string workspace;
  std::string history;
  CommonFlags common;
};

constexpr const char* kHelp =
    "/help          this list\n"
    "/reset         forget the conversation (workspace files stay)\n"
    "/tools         list the tools the model can call\n"
    "/save [FILE]   write the conversation as JSON (default whalebox-chat-<time>.json)\n"
    "/exit          leave (Ctrl-D too)\n"
    "Ctrl-C stops the current generation or tool call; a second Ctrl-C leaves.\n";

std::string default_history() {
  const char* home = std::getenv("HOME");
  return home && *home ? std::string(home) + "/.whalebox_history" : "";
}

// Runs one awaitable on `io` to completion (the loop only runs while the agent works).
template <class T>
T run_on(asio::io_context& io, asio::awaitable<T> aw) {
  std::optional<T> value;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value = std::move(v);
    io.stop();
  });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

class Chat {
 public:
  explicit Chat(const ChatOptions& o)
      : o_(o), cfg_(resolve_config(o.common)), reader_(o.history.empty() ? default_history() : o.history) {
    if (!reader_.interactive() && cfg_.approve == "ask") {
      std::cerr << "whalebox chat: stdin is not a terminal, so calls that change things are refused "
                   "(use --approve auto to allow them)\n";
      cfg_.approve = "read-only";
    }
    color_ = isatty(STDOUT_FILENO);
  }

  int run() {
    auto backend = make_backend(cfg_.backend);
    std::string workspace = o_.workspace.empty() ? fresh_workspace_dir() : o_.workspace;
    auto sandboxes = sandbox::make_process_backend(io_.get_executor());
    auto box = run_on(io_, open_sandbox(*sandboxes, workspace));
    EventPrinter printer(stdout, color_, true);
    Session session(*backend, *box, tools_named(cfg_.tools), cfg_, [&](const json& e) { printer(e); });
    session.set_approver([this](const ToolCall& call, const json& args) { return approve(call, args); });
    if (reader_.interactive())
      std::cout << "whalebox chat: " << cfg_.backend.kind << " backend, model " << cfg_.backend.model
                << ", workspace " << workspace << ", approval " << cfg_.approve << ". /help for commands.\n";

    bool leave = false;
    while (!leave) {
      std::signal(SIGINT, SIG_IGN);  // at the prompt Ctrl-C does nothing; Ctrl-D or /exit leaves
      auto line = reader_.read(color_ ? "\x1b[1mwhalebox>\x1b[0m " : "whalebox> ");
      if (!line) break;
      std::string text = *line;
      text.erase(0, text.find_first_not_of(" \t"));
      while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.pop_back();
      if (text.empty()) continue;
      if (text[0] == '/') {
        leave = command(text, session);
        continue;
      }
      Interrupts interrupts(io_, [&] { session.cancel(); }, [] {});
      run_on(io_, session.run_task(text));
      leave = interrupts.leaving();
    }
    std::signal(SIGINT, SIG_DFL);
    run_on(io_, [&]() -> asio::awaitable<int> {
      co_await close_sandbox(*box);
      co_return 0;
    }());
    return 0;
  }

 private:
  asio::awaitable<bool> approve(const ToolCall& call, const json& args) {
    if (cfg_.approve == "auto") co_return true;
    std::cout << "Allow " << summarize_call(call.name, args.dump(), 200) << " ? [y]es / [n]o / [a]lways: " << std::flush;
    auto answer = reader_.read("", false);
    std::string a = answer ? *answer : "n";
    if (a == "a" || a == "always") {
      cfg_.approve = "auto";
      co_return true;
    }
    co_return a == "y" || a == "yes";
  }

  // True when the chat should end.
  bool command(const std::string& line, Session& session) {
    std::string name = line.substr(0, line.find(' '));
    std::string arg = line.size() > name.size() ? line.substr(name.size() + 1) : "";
    if (name == "/exit" || name == "/quit") return true;
    if (name == "/help") std::cout << kHelp;
    else if (name == "/reset") {
      session.reset();
      std::cout << "conversation cleared\n";
    } else if (name == "/tools") {
      for (const auto& t : session.tools().all())
        std::cout << t.name << (t.read_only ? "" : " *") << "  " << t.description << "\n";
      std::cout << "(* asks before running in ask mode)\n";
    } else if (name == "/save") {
      if (arg.empty()) {
        char stamp[32];
        std::time_t now = std::time(nullptr);
        std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
        arg = std::string("whalebox-chat-") + stamp + ".json";
      }
      std::ofstream out(arg);
      out << json{{"messages", session.messages()}, {"tools", session.tools().openai_tools()}}.dump(2) << "\n";
      if (out) std::cout << "saved " << session.messages().size() << " messages to " << arg << "\n";
      else std::cout << "cannot write " << arg << "\n";
    } else {
      std::cout << "unknown command " << name << "; /help lists them\n";
    }
    std::cout << std::flush;
    return false;
  }

  const ChatOptions& o_;
  AgentConfig cfg_;
  LineReader reader_;
  bool color_ = false;
  asio::io_context io_;
};

}  // namespace

void add_chat_commands(CLI::App& app, CliContext& ctx) {
  auto o = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "Interactive agent shell (line editing, approvals, slash commands)");
  cmd->add_option("--workspace", o->workspace,
                  "Host directory mounted at /workspace (default: a new temporary directory)");
  cmd->add_option("--history", o->history, "History file (default ~/.whalebox_history)");
  add_common_flags(cmd, o->common, true);
  cmd->footer(kHelp);
  cmd->callback([o, &ctx] {
    try {
      Chat chat(*o);
      ctx.exit_code = chat.run();
    } catch (const std::exception& e) {
      std::cerr << "whalebox chat: " << e.what() << "\n";
      ctx.exit_code = 1;
    }
  });
}

}  // namespace whalebox::agent
