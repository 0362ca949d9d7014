#pragma once
// An append-only JSON-lines file that survives kill -9 at any moment: each line goes out in one
// write(2) and is fsync'd before the next; on open, a torn last line, lines that fail `keep`,
// and repeated ids are dropped (the file is rewritten atomically when anything was dropped).
#include <functional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace whalebox::agent {

class JsonlLog {
 public:
  using Keep = std::function<bool(const nlohmann::json& line)>;

  // Opens or creates `path`; every kept line must have a string "id". Throws std::runtime_error.
  JsonlLog(std::string path, const Keep& keep = {});
  ~JsonlLog();
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;

  const std::set<std::string>& ids() const { return ids_; }
  size_t dropped() const { return dropped_; }  // lines removed on open
  // Appends one line durably; throws std::runtime_error on I/O failure.
  void append(const nlohmann::json& line);

 private:
  std::string path_;
  int fd_ = -1;
  std::set<std::string> ids_;
  size_t dropped_ = 0;
};

}  // namespace whalebox::agent
