#include "agent/event_printer.h"

namespace whalebox::agent {

namespace {

constexpr const char* kDim = "\x1b[2m";
constexpr const char* kBold = "\x1b[1m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kReset = "\x1b[0m";

// Shortens to `width` characters (not bytes), one line.
std::string one_line(const std::string& s, size_t width) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if ((c & 0xC0) != 0x80 && ++chars > width) {
      out += "…";
      break;
    }
    if (c == '\n') out += "⏎";
    else if (c == '\t' || c == '\r') out += ' ';
    else out += static_cast<char>(c);
  }
  return out;
}

}  // namespace

std::string summarize_call(const std::string& name, const std::string& arguments_json, size_t width) {
  auto args = json::parse(arguments_json, nullptr, false);
  if (!args.is_object() || args.empty()) return name;
  std::string first;
  for (const auto& [k, v] : args.items()) {
    first = v.is_string() ? v.get<std::string>() : v.dump();
    break;
  }
  std::string s = name + " " + one_line(first, width);
  if (args.size() > 1) s += " (+" + std::to_string(args.size() - 1) + " more)";
  return s;
}

void EventPrinter::end_stream() {
  if (at_ != At::line_start) {
    if (color_ && at_ == At::reasoning) fputs(kReset, out_);
    fputc('\n', out_);
  }
  at_ = At::line_start;
}

void EventPrinter::operator()(const json& e) {
  const std::string type = e.value("type", "");
  if (type == "reasoning") {
    if (at_ == At::content) end_stream();
    if (at_ == At::line_start && color_) fputs(kDim, out_);
    if (at_ == At::line_start && !color_) fputs("[thinking] ", out_);
    at_ = At::reasoning;
    fputs(e["text"].get_ref<const std::string&>().c_str(), out_);
  } else if (type == "content") {
    if (!show_content_) return;
    if (at_ == At::reasoning) end_stream();
    at_ = At::content;
    fputs(e["text"].get_ref<const std::string&>().c_str(), out_);
  } else if (type == "tool_call") {
    end_stream();
    fprintf(out_, "%s→ %s%s\n", color_ ? kBold : "", summarize_call(e["name"], e["arguments"]).c_str(),
            color_ ? kReset : "");
  } else if (type == "tool_result") {
    end_stream();
    const std::string& text = e["text"].get_ref<const std::string&>();
    size_t lines = std::count(text.begin(), text.end(), '\n') + (text.empty() || text.back() == '\n' ? 0 : 1);
    bool ok = e.value("ok", false);
    fprintf(out_, "  %s← %s%s%s (%zu line%s, %.0f ms)%s\n", color_ && !ok ? kRed : (color_ ? kDim : ""),
            ok ? "" : "error: ", one_line(text, 100).c_str(), "", lines, lines == 1 ? "" : "s",
            e.value("ms", 0.0), color_ ? kReset : "");
  } else if (type == "assistant") {
    end_stream();
    const json& u = e["usage"];
    if (u.value("prompt_tokens", 0L) > 0)  // backends that count tokens
      fprintf(out_, "%s[turn %d: %ld prompt tokens, %ld of them cached, %ld processed; %ld generated; %s]%s\n",
              color_ ? kDim : "", e.value("turn", 0), u.value("prompt_tokens", 0L), u.value("cached_prompt_tokens", 0L),
              u.value("processed_prompt_tokens", 0L), u.value("completion_tokens", 0L),
              e.value("finish_reason", "").c_str(), color_ ? kReset : "");
  } else if (type == "retry") {
    end_stream();
    fprintf(out_, "%s[retrying] %s%s\n", color_ ? kYellow : "", e.value("reason", "").c_str(), color_ ? kReset : "");
  } else if (type == "final") {
    end_stream();
    std::string status = e.value("status", "");
    if (status != "done")
      fprintf(out_, "%s[%s] %s%s\n", color_ ? kRed : "", status.c_str(), e.value("error", "").c_str(),
              color_ ? kReset : "");
  }
  fflush(out_);
}

}  // namespace whalebox::agent
