#include "agent/backend_embedded.h"

#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <spdlog/spdlog.h>
#include <thread>

#include "agent/backend_completions.h"
#include "dsml/tokens.h"

namespace whalebox::agent {

namespace asio = boost::asio;
namespace fs = std::filesystem;

bool is_model_dir(const std::string& dir) {
  std::error_code ec;
  return !dir.empty() && fs::is_regular_file(fs::path(dir) / "config.json", ec);
}

std::optional<std::string> default_model_dir() {
  const fs::path rel = fs::path("models") / "whale-tiny";
  if (is_model_dir(rel.string())) return rel.string();
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    fs::path beside = fs::path(std::string(exe, size_t(n))).parent_path().parent_path() / rel;
    if (is_model_dir(beside.string())) return beside.string();
  }
  return std::nullopt;
}

namespace {

// One conversation held in the engine: the text its cached tokens decode to.
struct Sequence {
  std::string text;
  model::KvCache cache;
  uint64_t last_used = 0;
};

// One turn's exchange between the session's event loop and the engine thread. The engine thread
// posts through deliver(), which stops posting once the awaiting coroutine is gone (its event loop
// may be shutting down); posted handlers check `abandoned` again on the loop's thread.
struct Turn {
  asio::any_io_executor ex;
  StreamHandler on;                    // called on the event loop only, while the turn is awaited
  asio::steady_timer* done = nullptr;  // lives in the awaiting coroutine's frame
  std::atomic<bool> cancelled{false};
  std::mutex mu;
  bool abandoned = false;  // written on the event loop only
  Completion result;
  std::exception_ptr error;

  template <class F>
  void deliver(F&& f) {
    std::lock_guard lock(mu);
    if (!abandoned) asio::post(ex, std::forward<F>(f));
  }
};

struct Job {
  std::string prompt;
  dsml::Mode mode;
  long max_tokens;
  std::shared_ptr<Turn> turn;
};

class EmbeddedBackend : public Backend {
 public:
  EmbeddedBackend(std::shared_ptr<const model::Model> m, EmbeddedOptions opts)
      : model_(std::move(m)), opts_(std::move(opts)) {
    if (!model_->tokenizer()) throw BackendError("the embedded model has no tokenizer.json");
    worker_ = std::thread([this] { work(); });
  }

  ~EmbeddedBackend() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  asio::awaitable<Completion> complete(const ModelRequest& r, const StreamHandler& on, Cancel& cancel) override {
    if (cancel.fired()) throw Cancelled();
    std::string prompt;
    try {
      prompt = render_prompt(r.messages, r.tools, r.thinking);
    } catch (const std::exception& e) {
      throw BackendError(std::string("cannot render the conversation: ") + e.what());
    }
    auto turn = std::make_shared<Turn>();
    turn->ex = co_await asio::this_coro::executor;
    turn->on = on;
    asio::steady_timer done(turn->ex, asio::steady_timer::time_point::max());
    turn->done = &done;
    // However this coroutine ends, the engine thread stops at its next token and posts nothing more.
    struct Abandon {
      std::shared_ptr<Turn> t;
      ~Abandon() {
        t->cancelled = true;
        std::lock_guard lock(t->mu);
        t->abandoned = true;
      }
    } abandon{turn};
    Cancel::Scope scope(cancel, [turn] { turn->cancelled = true; });
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(Job{std::move(prompt), r.thinking ? dsml::Mode::thinking : dsml::Mode::chat,
                          r.max_tokens > 0 ? r.max_tokens : opts_.default_max_tokens, turn});
    }
    cv_.notify_one();
    // The final delivery is posted after every delta and wakes this wait (it cannot run before
    // the wait starts: it runs on this thread).
    co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
    if (turn->error) std::rethrow_exception(turn->error);
    co_return std::move(turn->result);
  }

 private:
  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      Completion c;
      std::exception_ptr error;
      try {
        c = run(job);
      } catch (...) {
        error = std::current_exception();
      }
      job.turn->deliver([t = job.turn, c = std::move(c), error]() mutable {
        if (t->abandoned) return;
        t->result = std::move(c);
        t->error = error;
        t->done->cancel();
      });
    }
  }

  // The cached sequence whose text the prompt extends (the longest), or a fresh one.
  Sequence& sequence_for(const std::string& prompt) {
    Sequence* best = nullptr;
    size_t closest = 0;  // longest common prefix with a sequence that does not fit (for the log)
    for (auto& s : sequences_) {
      if (prompt.starts_with(s.text)) {
        if (!best || s.text.size() > best->text.size()) best = &s;
      } else {
        size_t n = std::mismatch(s.text.begin(), s.text.end(), prompt.begin(), prompt.end()).first - s.text.begin();
        closest = std::max(closest, n);
      }
    }
    if (best) return *best;
    // Agreeing past an assistant turn marker means this conversation was cached but its prompt
    // changed (an edited history, a re-render that differs from the sampled text); otherwise it
    // is simply a new conversation.
    if (std::string_view(prompt).substr(0, closest).find(dsml::kAssistant) != std::string_view::npos)
      spdlog::warn("embedded: the prompt ({} bytes) extends no cached sequence (the closest agrees on its first {} "
                   "bytes only); processing it afresh",
                   prompt.size(), closest);
    else
      spdlog::debug("embedded: a new conversation");
    if (sequences_.size() >= std::max<size_t>(1, opts_.max_sequences)) {
      auto lru = std::min_element(sequences_.begin(), sequences_.end(),
                                  [](const Sequence& a, const Sequence& b) { return a.last_used < b.last_used; });
      sequences_.erase(lru);
    }
    sequences_.push_back(Sequence{"", model_->new_cache(), 0});
    return sequences_.back();
  }

  // A new conversation's shared prefix is its system prompt and tool declarations, up to and
  // including the first user marker (a special token, so the prompt's tokens split there
  // exactly). When an earlier conversation computed the same prefix, the new one starts from a
  // fork of that state (pages shared); otherwise the prefix is computed now and kept. Batch tasks
  // and rollouts that share a system prompt skip it. Returns the tokens processed here.
  int64_t start_from_shared_prefix(Sequence& seq, const std::string& prompt) {
    const size_t at = prompt.find(dsml::kUser);
    if (at == std::string::npos) return 0;
    std::string prefix = prompt.substr(0, at + dsml::kUser.size());
    if (prefix.size() >= prompt.size()) return 0;
    for (auto& p : prefixes_) {
      if (p.text != prefix) continue;
      p.last_used = clock_;
      seq.cache = p.cache.fork();
      seq.text = std::move(prefix);
      return 0;
    }
    std::vector<int32_t> ids = model_->tokenizer()->encode(prefix);
    model_->forward(seq.cache, ids);
    seq.text = prefix;
    if (prefixes_.size() >= kMaxPrefixes) {
      auto lru = std::min_element(prefixes_.begin(), prefixes_.end(),
                                  [](const Sequence& a, const Sequence& b) { return a.last_used < b.last_used; });
      prefixes_.erase(lru);
    }
    prefixes_.push_back(Sequence{std::move(prefix), seq.cache.fork(), clock_});
    return int64_t(ids.size());
  }

  // One turn on the engine thread.
  Completion run(const Job& job) {
    Turn& turn = *job.turn;
    if (turn.cancelled) throw Cancelled();
    const model::Tokenizer& tok = *model_->tokenizer();
    const auto& cfg = model_->config();
    Sequence& seq = sequence_for(job.prompt);
    seq.last_used = ++clock_;
    int64_t prefix_processed = 0;
    if (seq.text.empty()) {
      try {
        prefix_processed = start_from_shared_prefix(seq, job.prompt);
      } catch (...) {
        seq.text.clear();
        seq.cache = model_->new_cache();
        throw;
      }
    }
    const int64_t cached = seq.cache.length() - prefix_processed;
    std::vector<int32_t> fresh = tok.encode(std::string_view(job.prompt).substr(seq.text.size()));
    if (fresh.empty()) throw BackendError("the conversation adds nothing to the prompt; there is nothing to answer");
    const int64_t prompt_tokens = seq.cache.length() + int64_t(fresh.size());
    if (cfg.max_position_embeddings > 0 && prompt_tokens >= cfg.max_position_embeddings)
      throw BackendError("the conversation is " + std::to_string(prompt_tokens) + " tokens; the model's context is " +
                         std::to_string(cfg.max_position_embeddings));
    spdlog::debug("embedded: {} prompt tokens, {} cached, {} to process", prompt_tokens, cached,
                  prompt_tokens - cached);

    // Text deltas go to the event loop in order, then the final result. A finished tool-call
    // block ends the turn, as a server's stop sequence would.
    bool block_done = false;
    dsml::StreamParser parser(job.mode, [&](const dsml::Event& e) {
      if (e.type == dsml::EventType::block_finished) block_done = true;
      if (e.type != dsml::EventType::reasoning && e.type != dsml::EventType::content) return;
      bool reasoning = e.type == dsml::EventType::reasoning;
      turn.deliver([t = job.turn, reasoning, s = std::string(e.text)] {
        if (t->abandoned) return;
        const auto& cb = reasoning ? t->on.on_reasoning : t->on.on_content;
        if (cb) cb(s);
      });
    });
    model::GenerateOptions go;
    go.sampling = opts_.sampling;
    go.max_tokens = int(cfg.max_position_embeddings > 0
                            ? std::min<long>(job.max_tokens, cfg.max_position_embeddings - prompt_tokens)
                            : job.max_tokens);
    go.logit_hook = opts_.logit_hook;
    go.on_token = [&](int32_t t) {
      parser.feed(tok.token_bytes(t));
      return !block_done && !turn.cancelled;  // cancellation is honoured between tokens
    };
    // A long prompt is processed in chunks; Ctrl-C stops between them too.
    go.stop_prefill = [&] { return turn.cancelled.load(); };
    model::GenerateResult g;
    try {
      g = model::generate(*model_, seq.cache, fresh, go);
    } catch (...) {
      // The cache may hold part of the turn: forget the sequence rather than trust it.
      seq.text.clear();
      seq.cache = model_->new_cache();
      throw;
    }
    if (g.stop_reason == "stopped") {
      // Cancelled inside the prompt: the cache holds its first chunks, a consistent state that
      // the next turn of this conversation extends.
      seq.text += tok.decode(std::vector<int32_t>(fresh.begin(), fresh.begin() + g.prompt_tokens));
      throw Cancelled();
    }
    // Every sampled token was fed back: the cache now holds prompt + generated tokens.
    seq.text = job.prompt + tok.decode(g.tokens);
    if (turn.cancelled && !block_done) throw Cancelled();
    parser.finish();
    Completion c = completion_from_parse(parser.message());
    c.usage.prompt_tokens = prompt_tokens;
    c.usage.cached_prompt_tokens = cached;
    c.usage.completion_tokens = long(g.tokens.size());
    c.finish_reason = !c.calls.empty() ? "tool_calls" : g.stop_reason == "max_tokens" ? "length" : "stop";
    return c;
  }

  std::shared_ptr<const model::Model> model_;
  EmbeddedOptions opts_;
  std::vector<Sequence> sequences_;  // engine thread only
  static constexpr size_t kMaxPrefixes = 4;
  std::vector<Sequence> prefixes_;  // shared conversation prefixes (engine thread only)
  uint64_t clock_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::thread worker_;
};

// Read as T itself, so that a seed keeps every digit (a float would round it past 2^24).
template <class T>
T number_or(const json& extra, const char* key, T fallback) {
  auto it = extra.find(key);
  if (it == extra.end()) return fallback;
  if (!it->is_number()) throw BackendError(std::string("backend.request_extra.") + key + " must be a number");
  return it->get<T>();
}

}  // namespace

std::unique_ptr<Backend> make_embedded_backend(std::shared_ptr<const model::Model> m, EmbeddedOptions opts) {
  return std::make_unique<EmbeddedBackend>(std::move(m), std::move(opts));
}

std::unique_ptr<Backend> make_embedded_backend(const BackendConfig& cfg, size_t max_sequences) {
  if (!is_model_dir(cfg.model))
    throw BackendError("the embedded backend needs a checkpoint directory (--model DIR with config.json, "
                       "*.safetensors and tokenizer.json); '" + cfg.model + "' is not one");
  EmbeddedOptions opts;
  opts.max_sequences = max_sequences;
  const json& extra = cfg.request_extra;
  for (const auto& [k, v] : extra.items())
    if (k != "temperature" && k != "top_p" && k != "top_k" && k != "seed")
      throw BackendError("backend.request_extra." + k + " means nothing to the embedded backend "
                         "(temperature, top_p, top_k, seed)");
  opts.sampling.temperature = number_or(extra, "temperature", 0.0f);
  opts.sampling.greedy = opts.sampling.temperature <= 0;
  opts.sampling.top_p = number_or(extra, "top_p", 1.0f);
  opts.sampling.top_k = number_or(extra, "top_k", 0);
  opts.sampling.seed = number_or<uint64_t>(extra, "seed", 0);
  std::shared_ptr<const model::Model> m;
  try {
    m = model::Model::load(cfg.model);
  } catch (const std::exception& e) {
    throw BackendError("cannot load the model: " + std::string(e.what()));
  }
  if (!m->tokenizer()) throw BackendError(cfg.model + " has no tokenizer.json");
  return make_embedded_backend(std::move(m), std::move(opts));
}

}  // namespace whalebox::agent
