#include "agent/sse.h"

namespace whalebox::agent {

void SseDecoder::feed(std::string_view bytes, const std::function<void(const std::string&)>& on_event) {
  for (char c : bytes) {
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {
      if (has_data_) on_event(data_);
      data_.clear();
      has_data_ = false;
    } else if (line_.starts_with("data:")) {
      std::string_view v(line_);
      v.remove_prefix(5);
      if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (has_data_) data_ += '\n';
      data_ += v;
      has_data_ = true;
    }  // comments (":") and other fields (event:, id:, retry:) carry nothing we use
    line_.clear();
  }
}

}  // namespace whalebox::agent
