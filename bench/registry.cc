#include "bench/bench.h"

namespace whalebox::bench {

int run_dsml(const std::vector<std::string>& args);
int run_agent(const std::vector<std::string>& args);
int run_engine(const std::vector<std::string>& args);
int run_sandbox(const std::vector<std::string>& args);

const std::vector<Benchmark>& registry() {
  static const std::vector<Benchmark> all = {
      {"agent", "Runtime overhead per tool-call round trip (replay → parse → sandbox exec of true → render) vs the exec alone",
       "[--iterations N]\n  --iterations: tool-call round trips timed (default 300, at least 10).\n", run_agent},
      {"engine", "Embedded V4 engine on a random ~0.6B FP8/FP4 checkpoint: prefill, decode at 4K-1M context vs a dense-attention baseline, KV bytes/token, vs measured bandwidth and BF16 peak",
       "[--quick] [--threads N] [--contexts N,N,...] [--steps N] [--prompt N] [--no-dense] [--dense-budget-gib G]\n"
       "  (or WHALEBOX_BENCH_ENGINE_ARGS=\"--quick ...\")\n"
       "  Random ~0.6B-parameter FP8/FP4 V4 checkpoint in fast mode; prefill and decode tokens/s at\n"
       "  4K..1M context, dense-attention baseline, KV bytes/token, and this machine's read bandwidth and\n"
       "  BF16 GEMM rate (the engine's own VDPBF16PS kernel), all in one run.\n"
       "  --quick: a smaller model, contexts 4K and 64K, 256-token prompt (seconds instead of minutes).\n"
       "  --contexts: decode contexts (the first is the reference of the slowdown ratio).\n"
       "  --steps: timed decode steps per context (default 16); --prompt: prefill tokens (default 1024).\n"
       "  --no-dense: skip the dense baseline; --dense-budget-gib: the largest dense KV cache (default 4).\n",
       run_engine},
      {"sandbox", "Process sandbox vs bubblewrap: create->exec->destroy, exec in a live sandbox, execs/s over 16, memory per idle sandbox",
       "[--cycles N] [--execs N] [--seconds N] [--alive N]\n"
       "  --cycles: create->exec->destroy cycles (default 50); --execs: execs in one live sandbox (300);\n"
       "  --seconds: length of the 16-sandbox throughput run (3); --alive: idle sandboxes for the memory probe (1000).\n",
       run_sandbox},
      {"dsml", "DSML parse+validate throughput (whole buffer, 4-byte stream) vs nlohmann::json on OpenAI-form calls",
       "[--messages N] [--repeat N] [--chunk BYTES] [--rounds N] [--only whole|whole_events|stream|json]\n"
       "  --messages: corpus size (default 400); --repeat: passes per round (3); --chunk: stream chunk (4);\n"
       "  --rounds: timed rounds (5); --only: run one side, for profiling.\n",
       run_dsml},
  };
  return all;
}

}  // namespace whalebox::bench
