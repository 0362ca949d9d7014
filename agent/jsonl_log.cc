#include "agent/jsonl_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace whalebox::agent {

namespace {

std::runtime_error io_error(const std::string& what, const std::string& path) {
  return std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

void write_all(int fd, const std::string& data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw io_error("cannot write", path);
    off += n;
  }
}

void fsync_dir_of(const std::string& path) {
  auto dir = std::filesystem::absolute(path).parent_path();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

JsonlLog::JsonlLog(std::string path, const Keep& keep) : path_(std::move(path)) {
  std::string kept;
  if (std::ifstream in(path_, std::ios::binary); in) {
    std::stringstream all;
    all << in.rdbuf();
    std::string text = all.str();
    size_t at = 0;
    while (at < text.size()) {
      size_t nl = text.find('\n', at);
      if (nl == std::string::npos) {  // torn by a kill mid-write
        ++dropped_;
        break;
      }
      std::string line = text.substr(at, nl - at);
      at = nl + 1;
      auto j = nlohmann::json::parse(line, nullptr, false);
      bool good = j.is_object() && j.contains("id") && j["id"].is_string() && (!keep || keep(j)) &&
                  ids_.insert(j["id"].get<std::string>()).second;
      if (good) kept += line + "\n";
      else ++dropped_;
    }
    if (dropped_) {  // rewrite what is good, atomically
      std::string tmp = path_ + ".tmp";
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) throw io_error("cannot create", tmp);
      write_all(fd, kept, tmp);
      if (::fsync(fd) != 0) throw io_error("cannot fsync", tmp);
      ::close(fd);
      if (::rename(tmp.c_str(), path_.c_str()) != 0) throw io_error("cannot replace", path_);
      fsync_dir_of(path_);
    }
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io_error("cannot open", path_);
  fsync_dir_of(path_);
}

JsonlLog::~JsonlLog() {
  if (fd_ >= 0) ::close(fd_);
}

void JsonlLog::append(const nlohmann::json& line) {
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  write_all(fd_, text, path_);
  if (::fdatasync(fd_) != 0) throw io_error("cannot fsync", path_);
  ids_.insert(line.at("id").get<std::string>());
}

}  // namespace whalebox::agent
