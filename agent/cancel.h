#pragma once
// Cancellation of the operation in flight (a model request, a tool call). Ctrl-C fires it; each
// running operation registers a hook that aborts it (closes its socket, kills its process).
// Single-threaded: used only from the session's io_context.
#include <functional>
#include <map>

namespace whalebox::agent {

class Cancel {
 public:
  using Hook = std::function<void()>;

  // Runs every registered hook once; operations started later see fired() and stop at once.
  void fire() {
    fired_ = true;
    auto hooks = std::move(hooks_);
    hooks_.clear();
    for (auto& [id, h] : hooks) h();
  }
  bool fired() const { return fired_; }
  void reset() { fired_ = false; }

  // Registers a hook for the lifetime of one operation.
  class Scope {
   public:
    Scope(Cancel& c, Hook hook) : c_(c), id_(++c.next_) {
      if (c_.fired_) hook();
      else c_.hooks_.emplace(id_, std::move(hook));
    }
    ~Scope() { c_.hooks_.erase(id_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Cancel& c_;
    long id_;
  };

 private:
  bool fired_ = false;
  long next_ = 0;
  std::map<long, Hook> hooks_;
};

}  // namespace whalebox::agent
