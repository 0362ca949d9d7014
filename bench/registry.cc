#include "bench/bench.h"

namespace whalebox::bench {

int run_dsml(const std::vector<std::string>& args);
int run_agent(const std::vector<std::string>& args);
int run_engine(const std::vector<std::string>& args);
int run_sandbox(const std::vector<std::string>& args);

const std::vector<Benchmark>& registry() {
  static const std::vector<Benchmark> all = {
      {"agent", "Runtime overhead per tool-call round trip (replay → parse → sandbox exec of true → render) vs the exec alone", run_agent},
      {"engine", "Embedded V4 engine on a random ~0.4B FP8/FP4 checkpoint: prefill, decode at 4K-1M context vs a dense-attention baseline, KV bytes/token, vs measured bandwidth and BF16 peak", run_engine},
      {"sandbox", "Process sandbox vs bubblewrap: create->exec->destroy, exec in a live sandbox, execs/s over 16, memory per idle sandbox", run_sandbox},
      {"dsml", "DSML parse+validate throughput (whole buffer, 4-byte stream) vs nlohmann::json on OpenAI-form calls", run_dsml},
  };
  return all;
}

}  // namespace whalebox::bench
