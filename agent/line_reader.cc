#include "agent/line_reader.h"

#include <editline/readline.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace whalebox::agent {

LineReader::LineReader(std::string history_file)
    : tty_(isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)), history_file_(std::move(history_file)) {
  if (!tty_) return;
  using_history();
  stifle_history(1000);
  if (!history_file_.empty()) read_history(history_file_.c_str());
}

LineReader::~LineReader() {
  if (tty_ && !history_file_.empty()) write_history(history_file_.c_str());
}

std::optional<std::string> LineReader::read(const std::string& prompt, bool remember) {
  if (!tty_) {
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  }
  char* raw = readline(prompt.c_str());
  if (!raw) return std::nullopt;
  std::string line(raw);
  std::free(raw);
  if (remember && line.find_first_not_of(" \t") != std::string::npos) add_history(line.c_str());
  return line;
}

}  // namespace whalebox::agent
