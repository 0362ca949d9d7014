#pragma once
// Shows a session's events to a person: reasoning dimmed, the answer as it streams, each tool
// call and its result on one compact line. Colours only when asked (a terminal).
#include <cstdio>
#include <string>

#include "agent/backend.h"

namespace whalebox::agent {

class EventPrinter {
 public:
  EventPrinter(FILE* out, bool color, bool show_content) : out_(out), color_(color), show_content_(show_content) {}
  void operator()(const json& event);

 private:
  void end_stream();
  FILE* out_;
  bool color_;
  bool show_content_;
  enum class At { line_start, reasoning, content } at_ = At::line_start;
};

// One line: `name arg…` with the first argument's text shortened to `width` characters.
std::string summarize_call(const std::string& name, const std::string& arguments_json, size_t width = 100);

}  // namespace whalebox::agent
