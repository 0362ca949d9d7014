#pragma once
// Blocking wrappers over the asynchronous interface, for the CLI, tests and benchmarks. A
// SyncRuntime owns an io_context run by one background thread; each call waits for its handler.
// Do not call these from a handler running on that same io_context (it would deadlock).
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "sandbox/sandbox.h"

namespace whalebox::sandbox {

class SyncSandbox;

class SyncRuntime {
 public:
  explicit SyncRuntime(ProcessBackendOptions opts = {});
  ~SyncRuntime();
  SyncRuntime(const SyncRuntime&) = delete;
  SyncRuntime& operator=(const SyncRuntime&) = delete;

  Backend& backend() { return *backend_; }
  boost::asio::io_context& io() { return io_; }
  // Throws std::runtime_error with the backend's reason when the sandbox cannot be created.
  std::unique_ptr<SyncSandbox> create(SandboxSpec spec);

 private:
  boost::asio::io_context io_;
  std::unique_ptr<Backend> backend_;
  std::thread thread_;
};

class SyncSandbox {
 public:
  explicit SyncSandbox(std::shared_ptr<Sandbox> box) : box_(std::move(box)) {}
  ~SyncSandbox();  // destroys the sandbox if destroy() was not called

  Sandbox& async() { return *box_; }
  ExecResult exec(ExecRequest req, OutputHandler on_output = {});
  Status put_file(const std::string& path, std::string data, uint32_t mode = 0644);
  Status get_file(const std::string& path, std::string& out, uint64_t max_bytes = 64 * MiB);
  Status list(const std::string& path, std::vector<DirEntry>& out);
  Status put_tar(const std::string& dir, std::string tar);
  Status get_tar(const std::string& dir, std::string& out);
  Status stats(Stats& out);
  Status kill();
  Status destroy();

 private:
  std::shared_ptr<Sandbox> box_;
  bool destroyed_ = false;
};

}  // namespace whalebox::sandbox
