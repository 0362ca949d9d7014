#include "sandbox/sync.h"

#include <future>
#include <stdexcept>

#include <boost/asio/executor_work_guard.hpp>

namespace whalebox::sandbox {

SyncRuntime::SyncRuntime(ProcessBackendOptions opts)
    : backend_(make_process_backend(io_.get_executor(), std::move(opts))) {
  thread_ = std::thread([this] {
    auto guard = boost::asio::make_work_guard(io_);
    io_.run();
  });
}

SyncRuntime::~SyncRuntime() {
  io_.stop();
  thread_.join();
}

std::unique_ptr<SyncSandbox> SyncRuntime::create(SandboxSpec spec) {
  std::promise<std::pair<Status, std::shared_ptr<Sandbox>>> p;
  backend_->create(std::move(spec), [&p](Status s, std::shared_ptr<Sandbox> box) { p.set_value({s, box}); });
  auto [status, box] = p.get_future().get();
  if (!status.ok()) throw std::runtime_error(status.error);
  return std::make_unique<SyncSandbox>(std::move(box));
}

SyncSandbox::~SyncSandbox() {
  if (!destroyed_) destroy();
}

ExecResult SyncSandbox::exec(ExecRequest req, OutputHandler on_output) {
  std::promise<ExecResult> p;
  box_->exec(std::move(req), std::move(on_output), [&p](ExecResult r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

namespace {
template <class Call>
Status wait_status(Call&& call) {
  std::promise<Status> p;
  call([&p](Status s) { p.set_value(std::move(s)); });
  return p.get_future().get();
}
template <class T, class Call>
Status wait_value(T& out, Call&& call) {
  std::promise<Status> p;
  call([&p, &out](Status s, T v) {
    out = std::move(v);
    p.set_value(std::move(s));
  });
  return p.get_future().get();
}
}  // namespace

Status SyncSandbox::put_file(const std::string& path, std::string data, uint32_t mode) {
  return wait_status([&](StatusHandler h) { box_->put_file(path, std::move(data), mode, std::move(h)); });
}
Status SyncSandbox::get_file(const std::string& path, std::string& out, uint64_t max_bytes) {
  return wait_value(out, [&](DataHandler h) { box_->get_file(path, max_bytes, std::move(h)); });
}
Status SyncSandbox::list(const std::string& path, std::vector<DirEntry>& out) {
  return wait_value(out, [&](ListHandler h) { box_->list(path, std::move(h)); });
}
Status SyncSandbox::put_tar(const std::string& dir, std::string tar) {
  return wait_status([&](StatusHandler h) { box_->put_tar(dir, std::move(tar), std::move(h)); });
}
Status SyncSandbox::get_tar(const std::string& dir, std::string& out) {
  return wait_value(out, [&](DataHandler h) { box_->get_tar(dir, std::move(h)); });
}
Status SyncSandbox::stats(Stats& out) {
  return wait_value(out, [&](StatsHandler h) { box_->stats(std::move(h)); });
}
Status SyncSandbox::kill() {
  return wait_status([&](StatusHandler h) { box_->kill(std::move(h)); });
}
Status SyncSandbox::destroy() {
  destroyed_ = true;
  return wait_status([&](StatusHandler h) { box_->destroy(std::move(h)); });
}

}  // namespace whalebox::sandbox
