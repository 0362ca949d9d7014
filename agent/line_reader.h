#pragma once
// Reads the user's lines: libedit (editing, history) on a terminal, plain lines otherwise.
#include <optional>
#include <string>

namespace whalebox::agent {

class LineReader {
 public:
  // `history_file`: where history is kept between sessions (terminal only; "" for none).
  explicit LineReader(std::string history_file);
  ~LineReader();
  bool interactive() const { return tty_; }
  // nullopt at end of input (Ctrl-D, EOF). `remember`: add the line to the history.
  std::optional<std::string> read(const std::string& prompt, bool remember = true);

 private:
  bool tty_;
  std::string history_file_;
};

}  // namespace whalebox::agent
