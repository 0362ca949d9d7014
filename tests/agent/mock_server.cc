#include "tests/agent/mock_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace whalebox::agent::test {

namespace {

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

std::string chunk(const std::string& data) {
  char len[32];
  snprintf(len, sizeof len, "%zx\r\n", data.size());
  return len + data + "\r\n";
}

// Reads one HTTP/1.1 request (headers + Content-Length body). Returns false on EOF/garbage.
bool read_request(int fd, std::string& path, std::string& body) {
  std::string buf;
  char tmp[8192];
  size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, n);
  }
  auto sp1 = buf.find(' ');
  auto sp2 = buf.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
  path = buf.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t length = 0;
  std::string headers = buf.substr(0, header_end);
  for (auto& c : headers) c = std::tolower(static_cast<unsigned char>(c));
  if (auto at = headers.find("content-length:"); at != std::string::npos)
    length = std::stoul(headers.substr(at + 15));
  body = buf.substr(header_end + 4);
  while (body.size() < length) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    body.append(tmp, n);
  }
  return true;
}

std::vector<std::string> pieces(const std::string& s, size_t piece) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = std::min(piece, s.size() - i);
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;  // whole UTF-8 chars
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

MockServer::MockServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error("mock server: cannot listen on 127.0.0.1");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

MockServer::~MockServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

std::vector<json> MockServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void MockServer::serve(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string path, body;
  if (!read_request(fd, path, body)) {
    ::close(fd);
    return;
  }
  json request = json::parse(body, nullptr, false);
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
  }
  MockReply reply = handler_(path, request);
  if (reply.status != 200) {
    write_all(fd, "HTTP/1.1 " + std::to_string(reply.status) + " Error\r\nContent-Type: application/json\r\n"
                  "Content-Length: " + std::to_string(reply.body.size()) + "\r\nConnection: close\r\n\r\n" + reply.body);
    ::close(fd);
    return;
  }
  if (!write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")) {
    ::close(fd);
    return;
  }
  int sent = 0;
  for (const auto& e : reply.events) {
    if (reply.drop_after >= 0 && sent == reply.drop_after) {
      ::shutdown(fd, SHUT_RDWR);  // mid-stream: no terminating chunk
      ::close(fd);
      return;
    }
    if (reply.event_gap.count()) std::this_thread::sleep_for(reply.event_gap);
    if (!write_all(fd, chunk("data: " + e + "\n\n"))) break;
    ++sent;
  }
  write_all(fd, chunk("data: [DONE]\n\n") + "0\r\n\r\n");
  ::close(fd);
}

std::vector<std::string> chat_events(const std::string& reasoning, const std::string& content,
                                     const std::vector<json>& calls, size_t piece) {
  std::vector<std::string> out;
  auto delta = [&](json d, json finish = nullptr) {
    out.push_back(json{{"id", "mock"}, {"object", "chat.completion.chunk"},
                       {"choices", {{{"index", 0}, {"delta", std::move(d)}, {"finish_reason", finish}}}}}
                      .dump());
  };
  delta({{"role", "assistant"}});
  for (const auto& p : pieces(reasoning, piece)) delta({{"reasoning_content", p}});
  for (const auto& p : pieces(content, piece)) delta({{"content", p}});
  for (size_t i = 0; i < calls.size(); ++i) {
    delta({{"tool_calls", {{{"index", i}, {"id", "call_" + std::to_string(i) + "_" + calls[i]["name"].get<std::string>()},
                            {"type", "function"}, {"function", {{"name", calls[i]["name"]}, {"arguments", ""}}}}}}});
    for (const auto& p : pieces(calls[i]["arguments"].get<std::string>(), piece))
      delta({{"tool_calls", {{{"index", i}, {"function", {{"arguments", p}}}}}}});
  }
  delta(json::object(), calls.empty() ? "stop" : "tool_calls");
  out.push_back(json{{"id", "mock"}, {"choices", json::array()},
                     {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 10}}}}.dump());
  return out;
}

std::vector<std::string> completion_events(const std::string& text, size_t piece) {
  std::vector<std::string> out;
  for (const auto& p : pieces(text, piece))
    out.push_back(json{{"id", "mock"}, {"choices", {{{"index", 0}, {"text", p}, {"finish_reason", nullptr}}}}}.dump());
  out.push_back(json{{"id", "mock"}, {"choices", {{{"index", 0}, {"text", ""}, {"finish_reason", "stop"}}}},
                     {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 10}}}}.dump());
  return out;
}

std::string last_content(const json& request, const std::string& role) {
  if (!request.contains("messages")) return "";
  const auto& msgs = request["messages"];
  for (auto it = msgs.rbegin(); it != msgs.rend(); ++it)
    if ((*it)["role"] == role && (*it)["content"].is_string()) return (*it)["content"];
  return "";
}

}  // namespace whalebox::agent::test
