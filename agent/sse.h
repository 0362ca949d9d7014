#pragma once
// Server-sent events decoder: feed body bytes as they arrive, get each event's data when its
// terminating blank line is seen. Handles \n and \r\n line ends and events split across chunks.
#include <functional>
#include <string>
#include <string_view>

namespace whalebox::agent {

class SseDecoder {
 public:
  // Calls on_event(data) for every complete event that carries data.
  void feed(std::string_view bytes, const std::function<void(const std::string&)>& on_event);

 private:
  std::string line_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace whalebox::agent
